/**
 * B+tree node codec (format v1): the payload of a record of kind Node.
 *
 * | off | size | field  | meaning                                   |
 * |-----|------|--------|-------------------------------------------|
 * |   0 |    1 | type   | 1 leaf, 2 internal                        |
 * |   1 |    1 | level  | 0 for leaves, parent = child + 1          |
 * |   2 |    2 | count  | entries                                   |
 * |   4 |    … | entry  | leaf: u16 klen, key, u16 vlen, value      |
 * |      |      |        | internal: u16 klen, key, 32-byte pointer  |
 *
 * Internal entry i holds a lower bound of child i's keys (entry 0's may be lower than all).
 * Keys compare as unsigned bytes; within a node they are strictly increasing.
 */
import { VdfsError } from '../errors.js';
import { invariant, LIMITS } from '../limits.js';
import { BlockPtr, decodePtr, encodePtr, PTR_SIZE } from '../format/ptr.js';

export const NODE_HEADER = 4;
export const leafEntryBytes = (k: Buffer, v: Buffer) => 4 + k.length + v.length;
export const innerEntryBytes = (k: Buffer) => 2 + k.length + PTR_SIZE;

export interface NodeImage {
  leaf: boolean;
  level: number;
  keys: Buffer[];
  vals: Buffer[];
  kids: BlockPtr[];
}

/** The limits read once: these two run in every binary search and node encoding. */
const KEY_JS = LIMITS.KEY_COMPARE_JS_BYTES, COPY_JS = LIMITS.NODE_COPY_JS_BYTES;

/**
 * The order of keys (unsigned bytes, a shorter prefix first), as Buffer.compare gives it. Most
 * keys are 8-byte block or inode numbers, for which a JS loop takes ~11 ns and Buffer.compare's
 * call into C++ ~54 ns; a commit compares a few dozen keys per block it applies.
 */
export function compareKeys(a: Buffer, b: Buffer): number {
  if (a.length > KEY_JS || b.length > KEY_JS) return Buffer.compare(a, b);
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Writes u16 length then the bytes of x at `at`; returns the offset after them. */
function putPiece(b: Buffer, at: number, x: Buffer): number {
  const len = x.length;
  b[at] = len & 0xff; b[at + 1] = len >>> 8;
  at += 2;
  // A call to set() costs more than a short loop: keys are mostly 8 bytes (a 20-entry leaf of
  // 8-byte keys: 2.0-2.2 us with set() and writeUInt16LE for everything, 1.2-1.3 us this way).
  if (len <= COPY_JS) for (let j = 0; j < len; j++) b[at + j] = x[j];
  else b.set(x, at);
  return at + len;
}

/** Encodes a node into a buffer from `alloc` (the commit passes one with room for its record header in front). */
export function encodeNode(n: NodeImage, alloc: (len: number) => Buffer = Buffer.allocUnsafe): Buffer {
  let size = NODE_HEADER;
  for (let i = 0; i < n.keys.length; i++) size += n.leaf ? leafEntryBytes(n.keys[i], n.vals[i]) : innerEntryBytes(n.keys[i]);
  const b = alloc(size);
  invariant(b.length === size, 'a node is encoded into a buffer of its size');
  b[0] = n.leaf ? 1 : 2;
  b[1] = n.level;
  b.writeUInt16LE(n.keys.length, 2);
  let at = NODE_HEADER;
  for (let i = 0; i < n.keys.length; i++) {
    at = putPiece(b, at, n.keys[i]);
    if (n.leaf) at = putPiece(b, at, n.vals[i]);
    else { encodePtr(n.kids[i], b, at); at += PTR_SIZE; }
  }
  return b;
}

/**
 * The first key of an encoded node without decoding the rest (the cleaner needs only the path to
 * a node); null for an empty node. Bounds are checked; order and the rest are decodeNode's job.
 */
export function firstKeyOf(b: Buffer): Buffer | null {
  if (b.length < NODE_HEADER || b.readUInt16LE(2) === 0) return null;
  if (b.length < NODE_HEADER + 2) throw new VdfsError('CORRUPT', 'tree node: entry past end');
  const klen = b.readUInt16LE(NODE_HEADER);
  if (klen > LIMITS.KEY_MAX_BYTES || NODE_HEADER + 2 + klen > b.length) throw new VdfsError('CORRUPT', 'tree node: bad first key');
  return Buffer.from(b.subarray(NODE_HEADER + 2, NODE_HEADER + 2 + klen));
}

export function decodeNode(b: Buffer): NodeImage {
  const bad = (why: string): never => { throw new VdfsError('CORRUPT', `tree node: ${why}`); };
  if (b.length < NODE_HEADER || b.length > LIMITS.NODE_MAX_BYTES + 2 * (LIMITS.KEY_MAX_BYTES + LIMITS.VALUE_MAX_BYTES)) bad('bad size');
  const type = b[0];
  if (type !== 1 && type !== 2) bad(`bad type ${type}`);
  const leaf = type === 1;
  const level = b[1];
  if (leaf !== (level === 0)) bad('level does not match type');
  const count = b.readUInt16LE(2);
  const n: NodeImage = { leaf, level, keys: [], vals: [], kids: [] };
  let at = NODE_HEADER;
  // Keys and values are views of one private copy of the payload (one allocation, not two per
  // entry: decoding a full 16 KiB leaf went from ~140 to ~58 us); the caller's buffer is not kept.
  const own = Buffer.from(b);
  const take = (len: number) => { if (at + len > own.length) bad('entry past end'); const s = own.subarray(at, at + len); at += len; return s; };
  const u16 = () => { if (at + 2 > own.length) bad('entry past end'); const v = own.readUInt16LE(at); at += 2; return v; };
  for (let i = 0; i < count; i++) {
    const klen = u16();
    if (klen > LIMITS.KEY_MAX_BYTES) bad('key too long');
    const key = take(klen);
    if (i > 0 && compareKeys(n.keys[i - 1], key) >= 0) bad('keys out of order');
    n.keys.push(key);
    if (leaf) {
      const vlen = u16();
      if (vlen > LIMITS.VALUE_MAX_BYTES) bad('value too long');
      n.vals.push(take(vlen));
    } else {
      n.kids.push(decodePtr(take(PTR_SIZE)));
    }
  }
  if (at !== b.length) bad('trailing bytes');
  if (!leaf && count === 0) bad('empty internal node');
  return n;
}
