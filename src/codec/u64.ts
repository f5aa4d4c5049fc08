/**
 * 64-bit integer fields of the on-disk and FUSE structures, read and written without Buffer's
 * BigInt arithmetic: `Buffer.writeBigUInt64LE` splits its value with BigInt shifts and masks
 * (~60 ns a call here), where storing into a BigUint64Array and copying its eight bytes takes
 * ~20 ns with the range and bounds checks (reads: ~30 against ~20); `Number(readBigUInt64LE())` makes two BigInts where two 32-bit reads make none. The
 * write path calls these tens of times per 4 KiB write (record headers, block pointers, FUSE
 * headers), so the difference showed in its CPU profile (~4% of the event loop's time).
 *
 * The `Num` forms are for fields that hold safe integers (sizes, offsets, block numbers, file
 * handles): they never make a BigInt at all.
 */
import { invariant } from '../limits.js';

const cell = new BigUint64Array(1);
const bytes = new Uint8Array(cell.buffer);
/** Where the cell keeps byte i of the field, for a little-endian and for a big-endian field (the platform's order decides). */
const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LE_AT = little ? [0, 1, 2, 3, 4, 5, 6, 7] : [7, 6, 5, 4, 3, 2, 1, 0];
const BE_AT = [...LE_AT].reverse();
const TWO32 = 0x1_0000_0000;
const U64_END = 1n << 64n;
const RANGE = 'a u64 field holds a value in [0, 2^64)';

function put(b: Uint8Array, off: number, v: bigint, at: number[]): void {
  invariant(off >= 0 && off + 8 <= b.length, 'u64 field inside its buffer');
  invariant(v >= 0n && v < U64_END, RANGE);
  cell[0] = v;
  for (let i = 0; i < 8; i++) b[off + i] = bytes[at[i]];
}

function get(b: Uint8Array, off: number, at: number[]): bigint {
  invariant(off >= 0 && off + 8 <= b.length, 'u64 field inside its buffer');
  for (let i = 0; i < 8; i++) bytes[at[i]] = b[off + i];
  return cell[0];
}

/** Stores v as unsigned little-endian at off. */
export const putU64LE = (b: Uint8Array, off: number, v: bigint): void => put(b, off, v, LE_AT);
/** Stores v as unsigned big-endian at off (tree keys: they compare as bytes). */
export const putU64BE = (b: Uint8Array, off: number, v: bigint): void => put(b, off, v, BE_AT);
export const getU64LE = (b: Uint8Array, off: number): bigint => get(b, off, LE_AT);
export const getU64BE = (b: Uint8Array, off: number): bigint => get(b, off, BE_AT);

const lo32 = (b: Uint8Array, at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
const hi32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;

/** An unsigned little-endian u64 as a Number (exact below 2^53, rounded above, as Number(BigInt) is). */
export function getNumLE(b: Uint8Array, off: number): number {
  invariant(off >= 0 && off + 8 <= b.length, 'u64 field inside its buffer');
  return lo32(b, off + 4) * TWO32 + lo32(b, off);
}

export function getNumBE(b: Uint8Array, off: number): number {
  invariant(off >= 0 && off + 8 <= b.length, 'u64 field inside its buffer');
  return hi32(b, off) * TWO32 + hi32(b, off + 4);
}

const SAFE = 'a u64 field written from a Number holds a non-negative safe integer';

/** Stores a non-negative safe integer as unsigned little-endian u64 at off. */
export function putNumLE(b: Uint8Array, off: number, n: number): void {
  invariant(off >= 0 && off + 8 <= b.length, 'u64 field inside its buffer');
  invariant(Number.isSafeInteger(n) && n >= 0, SAFE);
  const hi = Math.floor(n / TWO32), lo = n - hi * TWO32;
  b[off] = lo & 0xff; b[off + 1] = (lo >>> 8) & 0xff; b[off + 2] = (lo >>> 16) & 0xff; b[off + 3] = lo >>> 24;
  b[off + 4] = hi & 0xff; b[off + 5] = (hi >>> 8) & 0xff; b[off + 6] = (hi >>> 16) & 0xff; b[off + 7] = hi >>> 24;
}

/** Stores a non-negative safe integer as unsigned big-endian u64 at off. */
export function putNumBE(b: Uint8Array, off: number, n: number): void {
  invariant(off >= 0 && off + 8 <= b.length, 'u64 field inside its buffer');
  invariant(Number.isSafeInteger(n) && n >= 0, SAFE);
  const hi = Math.floor(n / TWO32), lo = n - hi * TWO32;
  b[off] = hi >>> 24; b[off + 1] = (hi >>> 16) & 0xff; b[off + 2] = (hi >>> 8) & 0xff; b[off + 3] = hi & 0xff;
  b[off + 4] = lo >>> 24; b[off + 5] = (lo >>> 16) & 0xff; b[off + 6] = (lo >>> 8) & 0xff; b[off + 7] = lo & 0xff;
}
