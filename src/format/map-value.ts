/**
 * File block-map value codec (format v5, v6): a block's stored content is its base record, with
 * up to OVERLAY_MAX_SUBS (v6; V5_MAX_SUBS in v5) sub-block records laid over it. A 4 KiB write into a block that is not
 * otherwise rewritten is stored as a sub-block record (SUB_BYTES of data, no read of the rest);
 * a read takes the base and puts the sub-blocks over it.
 *
 * | off    | size | field    | meaning                                                         |
 * |--------|------|----------|-----------------------------------------------------------------|
 * |      0 |   32 | base     | block pointer (ptr.ts): zero extent or present record            |
 * | 32 × i |   32 | sub i    | block pointer of sub-block i (1 ≤ i ≤ n): zero or present; its   |
 * |        |      |          | reserved bytes 2..3 hold the sub-block's index in the block (u16)|
 *
 * Length 32 × (1 + n), n ≤ OVERLAY_MAX_SUBS; sub-blocks in increasing index order, each index
 * below blockSize / SUB_BYTES. When every sub-block of a block is there, the base is a zero
 * extent (v6: nothing of the stored block is left to read). A value of 32 bytes is exactly the v4 value (a block pointer), so
 * maps written before v5 read unchanged. A sub-block record is a data record whose key is
 * subKey(lbn, index): bit 63 set, the block number above SUB_KEY_SHIFT bits, the index below.
 */
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { BlockPtr, decodePtr, encodePtr, ExtentState, PTR_SIZE } from './ptr.js';

export interface SubPtr { index: number; ptr: BlockPtr }
export interface MapValue { base: BlockPtr; subs: SubPtr[] }

/** Sub-blocks a v5 datastore lays over one block (v6: OVERLAY_MAX_SUBS). */
export const V5_MAX_SUBS = 4;
export const SUB_KEY_BIT = 1n << 63n;
export const SUB_KEY_SHIFT = 8n; // up to 256 sub-blocks: a 1 MiB block of 4 KiB sub-blocks

/** The record key of sub-block `index` of block lbn. */
export const subKey = (lbn: number, index: number): bigint => SUB_KEY_BIT | (BigInt(lbn) << SUB_KEY_SHIFT) | BigInt(index);
/** The block and sub-block a record key names (sub: null for a whole block's record). */
export function keyParts(key: bigint): { lbn: number; sub: number | null } {
  if (!(key & SUB_KEY_BIT)) return { lbn: Number(key), sub: null };
  const k = key & ~SUB_KEY_BIT;
  return { lbn: Number(k >> SUB_KEY_SHIFT), sub: Number(k & ((1n << SUB_KEY_SHIFT) - 1n)) };
}

export function encodeMapValue(v: MapValue): Buffer {
  const out = Buffer.alloc(PTR_SIZE * (1 + v.subs.length));
  encodePtr(v.base, out, 0);
  v.subs.forEach((s, i) => {
    const at = PTR_SIZE * (1 + i);
    encodePtr(s.ptr, out, at);
    out.writeUInt16LE(s.index, at + 2);
  });
  return out;
}

/** Decodes a value; `subsPerBlock` bounds the indices (blockSize / SUB_BYTES; default: what the key allows). */
export function decodeMapValue(b: Buffer, subsPerBlock = 1 << Number(SUB_KEY_SHIFT)): MapValue {
  if (b.length % PTR_SIZE || b.length < PTR_SIZE) throw new VdfsError('CORRUPT', `map value of ${b.length} bytes`);
  const n = b.length / PTR_SIZE - 1;
  if (n > LIMITS.OVERLAY_MAX_SUBS) throw new VdfsError('CORRUPT', `map value with ${n} sub-blocks`);
  const base = decodePtr(b, 0);
  if (base.state === ExtentState.None || b.readUInt16LE(2)) throw new VdfsError('CORRUPT', 'bad base pointer in a map value');
  const subs: SubPtr[] = [];
  for (let i = 0; i < n; i++) {
    const at = PTR_SIZE * (1 + i);
    const index = b.readUInt16LE(at + 2);
    const ptr = decodePtr(b, at); // bytes 2..3 (the index) are not the pointer's
    if (ptr.state === ExtentState.None) throw new VdfsError('CORRUPT', 'empty sub-block pointer');
    if (index >= subsPerBlock || (i > 0 && index <= subs[i - 1].index)) throw new VdfsError('CORRUPT', `sub-block index ${index} out of order or range`);
    subs.push({ index, ptr });
  }
  return { base, subs };
}

/** Every record pointer a value holds (present ones only): the base first. */
export function presentPtrs(v: MapValue): BlockPtr[] {
  const out = v.base.state === ExtentState.Present ? [v.base] : [];
  for (const s of v.subs) if (s.ptr.state === ExtentState.Present) out.push(s.ptr);
  return out;
}

/** Whether two encoded values read the same for certain without reading them (both all zeros, or the same records). */
export function sameContent(x: Buffer, y: Buffer): boolean {
  if (x.equals(y)) return true;
  const zeros = (v: MapValue) => v.base.state === ExtentState.Zero && v.subs.every((s) => s.ptr.state === ExtentState.Zero);
  return zeros(decodeMapValue(x)) && zeros(decodeMapValue(y));
}
