/**
 * GF(2^8) multiply-accumulate with WebAssembly SIMD: the split-nibble method of ISA-L and
 * klauspost/reedsolomon. c·x = c·(x & 15) ^ c·(x >> 4 << 4), and i8x16.swizzle looks up sixteen
 * bytes of x in a 16-entry table at once, so one product of sixteen bytes costs two swizzles
 * (about ten instructions) instead of sixteen table loads.
 *
 * The module is one function, assembled here byte by byte (no toolchain, nothing compiled to
 * ship), over its own memory:
 *
 * | bytes                 | what                                                          |
 * |-----------------------|---------------------------------------------------------------|
 * | 0 .. 8191             | per coefficient c (0..255), 32 bytes at c·32: c·x for x = 0..15, then c·(x<<4) |
 * | 8192 ..               | scratch: the caller's source and output buffers, 16-byte padded |
 *
 * `mul(src, dst, n, tbl, first)`: for i in [0, n) step 16, dst[i..] = (first ? 0 : dst[i..]) ^
 * c·src[i..]; n is a multiple of 16. Null from `loadGfSimd` where the engine has no SIMD.
 */

export const TABLES_BYTES = 256 * 32;
const PAGE = 65536;

export interface GfSimd {
  /** The module's memory as bytes (a new view after every grow). */
  bytes(): Uint8Array;
  /** Makes the memory at least `n` bytes long. */
  reserve(n: number): void;
  mul(src: number, dst: number, n: number, tbl: number, first: number): void;
}

const leb = (n: number): number[] => {
  const out: number[] = [];
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n);
  return out;
};
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const str = (s: string): number[] => [s.length, ...Buffer.from(s, 'ascii')];

// opcodes (the core and SIMD specs)
const I32 = 0x7f, V128 = 0x7b;
const GET = 0x20, SET = 0x21, TEE = 0x22, I32_CONST = 0x41, I32_ADD = 0x6a, I32_GE_U = 0x4f;
const BLOCK = 0x02, LOOP = 0x03, IF = 0x04, ELSE = 0x05, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, VOID = 0x40;
const simd = (op: number): number[] => [0xfd, ...leb(op)];
const LOAD = (offset: number) => [...simd(0x00), 0, ...leb(offset)];
const STORE = [...simd(0x0b), 0, 0];
const SWIZZLE = simd(0x0e), SPLAT8 = simd(0x0f), AND = simd(0x4e), XOR = simd(0x51), SHR_U8 = simd(0x6d);

// params 0 src, 1 dst, 2 n, 3 tbl, 4 first; locals 5 i (i32), 6 lo, 7 hi, 8 mask, 9 v (v128)
const BODY: number[] = [
  2, 1, I32, 4, V128,
  GET, 3, ...LOAD(0), SET, 6,
  GET, 3, ...LOAD(16), SET, 7,
  I32_CONST, 15, ...SPLAT8, SET, 8,
  BLOCK, VOID, LOOP, VOID,
  GET, 5, GET, 2, I32_GE_U, BR_IF, 1,
  GET, 6, GET, 0, GET, 5, I32_ADD, ...LOAD(0), TEE, 9, GET, 8, ...AND, ...SWIZZLE,
  GET, 7, GET, 9, I32_CONST, 4, ...SHR_U8, ...SWIZZLE, ...XOR, SET, 9,
  GET, 1, GET, 5, I32_ADD,
  GET, 4, IF, V128, GET, 9, ELSE, GET, 1, GET, 5, I32_ADD, ...LOAD(0), GET, 9, ...XOR, END,
  ...STORE,
  GET, 5, I32_CONST, 16, I32_ADD, SET, 5, BR, 0,
  END, END, END,
];

export const MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 0]),
  ...section(3, [1, 0]),
  ...section(5, [1, 0x00, 2]),
  ...section(7, [2, ...str('mul'), 0x00, 0, ...str('mem'), 0x02, 0]),
  ...section(10, [1, ...leb(BODY.length), ...BODY]),
]);

/** Instantiates the kernel and fills its tables from `mul(c, x)`; null without WebAssembly SIMD. */
export function loadGfSimd(mul: (c: number, x: number) => number): GfSimd | null {
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(MODULE)) return null;
  const inst = new WebAssembly.Instance(new WebAssembly.Module(MODULE), {});
  const mem = inst.exports.mem as WebAssembly.Memory;
  const fn = inst.exports.mul as GfSimd['mul'];
  let view = new Uint8Array(mem.buffer);
  for (let c = 0; c < 256; c++) {
    for (let x = 0; x < 16; x++) { view[c * 32 + x] = mul(c, x); view[c * 32 + 16 + x] = mul(c, x << 4); }
  }
  return {
    bytes: () => (view.buffer === mem.buffer ? view : (view = new Uint8Array(mem.buffer))),
    reserve(n) { if (n > mem.buffer.byteLength) mem.grow(Math.ceil((n - mem.buffer.byteLength) / PAGE)); },
    mul: fn,
  };
}
