/**
 * Snapshot tree codecs (format v2). One tree holds, per file, a header and its snapshots.
 *
 * Key: ino (u64 BE) + id (u32 BE). Id 0 is the file's header; ids 1.. are snapshots, handed out
 * in creation order and never reused for the file.
 *
 * Header value (id 0):
 * | off | size | field      | meaning                                                   |
 * |-----|------|------------|-----------------------------------------------------------|
 * |   0 |    4 | nextId     | id the next snapshot of this file gets                    |
 * |   4 |    4 | liveParent | snapshot the live file descends from (0: none)            |
 *
 * Snapshot value (id ≥ 1):
 * | off | size | field    | meaning                                                     |
 * |-----|------|----------|-------------------------------------------------------------|
 * |   0 |    8 | txg      | transaction group that took it (its content = end of txg)   |
 * |   8 |    8 | created  | ms since the epoch (float64)                                |
 * |  16 |    4 | parent   | parent snapshot id in the file's snapshot tree (0: none)    |
 * |  20 |    8 | size     | file size at the snapshot                                   |
 * |  28 |   32 | mapRoot  | block pointer: the file's block map at the snapshot         |
 * |  60 |    1 | nameLen  | bytes of the name (1..SNAP_NAME_MAX)                        |
 * |  61 |    … | name     | UTF-8, no '/', NUL or '..'                                  |
 */
import { VdfsError } from '../errors.js';
import { BlockPtr, decodePtr, encodePtr } from '../format/ptr.js';
import { LIMITS } from '../limits.js';
import { getNumLE, getU64BE, getU64LE, putNumLE, putU64BE, putU64LE } from '../codec/u64.js';

export interface SnapHeader { nextId: number; liveParent: number }

export interface SnapInfo {
  ino: bigint;
  id: number;
  name: string;
  txg: bigint;
  created: number;
  parent: number;
  size: number;
  mapRoot: BlockPtr;
}

export const HEADER_ID = 0;

export function snapKey(ino: bigint, id: number): Buffer {
  const k = Buffer.alloc(12);
  putU64BE(k, 0, ino);
  k.writeUInt32BE(id, 8);
  return k;
}
export const keyIno = (k: Buffer): bigint => getU64BE(k, 0);
export const keyId = (k: Buffer): number => k.readUInt32BE(8);

export function encodeHeader(h: SnapHeader): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(h.nextId, 0);
  b.writeUInt32LE(h.liveParent, 4);
  return b;
}

export function decodeHeader(b: Buffer): SnapHeader {
  if (b.length !== 8) throw new VdfsError('CORRUPT', 'bad snapshot header');
  return { nextId: b.readUInt32LE(0), liveParent: b.readUInt32LE(4) };
}

export function encodeSnap(s: SnapInfo): Buffer {
  const name = Buffer.from(s.name);
  if (name.length === 0 || name.length > LIMITS.SNAP_NAME_MAX) throw new VdfsError('INVALID', 'bad snapshot name length');
  const b = Buffer.alloc(61 + name.length);
  putU64LE(b, 0, s.txg);
  b.writeDoubleLE(s.created, 8);
  b.writeUInt32LE(s.parent, 16);
  putNumLE(b, 20, s.size);
  encodePtr(s.mapRoot, b, 28);
  b[60] = name.length;
  name.copy(b, 61);
  return b;
}

export function decodeSnap(k: Buffer, b: Buffer): SnapInfo {
  if (b.length < 62 || b.length !== 61 + b[60]) throw new VdfsError('CORRUPT', 'bad snapshot record');
  return {
    ino: keyIno(k), id: keyId(k),
    txg: getU64LE(b, 0), created: b.readDoubleLE(8), parent: b.readUInt32LE(16),
    size: getNumLE(b, 20), mapRoot: decodePtr(b, 28), name: b.subarray(61).toString(),
  };
}
