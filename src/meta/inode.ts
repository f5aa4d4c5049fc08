/**
 * Inode codec (format v3): the value stored in the inode tree under key = ino (u64 BE).
 *
 * | off | size | field   | meaning                                        |
 * |-----|------|---------|------------------------------------------------|
 * |   0 |    4 | mode    | type and permission bits (st_mode)             |
 * |   4 |    4 | uid     |                                                |
 * |   8 |    4 | gid     |                                                |
 * |  12 |    4 | nlink   |                                                |
 * |  16 |    8 | size    | bytes                                          |
 * |  24 |    8 | atime   | ms since the epoch (float64)                   |
 * |  32 |    8 | mtime   | ms (float64)                                   |
 * |  40 |    8 | ctime   | ms (float64)                                   |
 * |  48 |    8 | stored  | bytes of records this file's data occupies     |
 * |  56 |   32 | mapRoot | block pointer: the file's block-map tree       |
 * |  88 |    8 | logical | bytes of this file's stored (present) blocks   |
 * |  96 |    2 | linkLen | symlink target length (0 otherwise)            |
 * |  98 |    … | link    | symlink target bytes                           |
 *
 * logical / stored is the file's compression ratio (stored counts record headers too).
 */
import { VdfsError } from '../errors.js';
import { BlockPtr, decodePtr, encodePtr, NULL_PTR } from '../format/ptr.js';
import { getNumLE, getU64BE, getU64LE, putNumLE, putU64BE, putU64LE } from '../codec/u64.js';

const FIXED = 98;
export const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000;

export interface InodeAttrs {
  mode: number; uid: number; gid: number; nlink: number; size: number;
  atime: number; mtime: number; ctime: number; stored: number; logical: number;
  mapRoot: BlockPtr; link: Buffer;
}

export function newAttrs(mode: number, uid: number, gid: number, now = Date.now()): InodeAttrs {
  return { mode, uid, gid, nlink: 1, size: 0, atime: now, mtime: now, ctime: now, stored: 0, logical: 0, mapRoot: NULL_PTR, link: Buffer.alloc(0) };
}

export const ino2key = (ino: bigint): Buffer => { const k = Buffer.alloc(8); putU64BE(k, 0, ino); return k; };
export const key2ino = (k: Buffer): bigint => getU64BE(k, 0);

export function encodeInode(a: InodeAttrs): Buffer {
  const b = Buffer.alloc(FIXED + a.link.length);
  b.writeUInt32LE(a.mode, 0); b.writeUInt32LE(a.uid, 4); b.writeUInt32LE(a.gid, 8); b.writeUInt32LE(a.nlink, 12);
  putNumLE(b, 16, a.size);
  b.writeDoubleLE(a.atime, 24); b.writeDoubleLE(a.mtime, 32); b.writeDoubleLE(a.ctime, 40);
  putNumLE(b, 48, a.stored);
  encodePtr(a.mapRoot, b, 56);
  putNumLE(b, 88, a.logical);
  b.writeUInt16LE(a.link.length, 96);
  a.link.copy(b, FIXED);
  return b;
}

export function decodeInode(b: Buffer): InodeAttrs {
  if (b.length < FIXED || b.length !== FIXED + b.readUInt16LE(96)) throw new VdfsError('CORRUPT', 'bad inode record');
  return {
    mode: b.readUInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8), nlink: b.readUInt32LE(12),
    size: getNumLE(b, 16),
    atime: b.readDoubleLE(24), mtime: b.readDoubleLE(32), ctime: b.readDoubleLE(40),
    stored: getNumLE(b, 48),
    logical: getNumLE(b, 88),
    mapRoot: decodePtr(b, 56), link: Buffer.from(b.subarray(FIXED)),
  };
}

/**
 * Directory entry (format v1): key = parent ino (u64 BE) + name bytes; value = child ino
 * (u64 LE) + type (u8: 1 dir, 2 file, 3 symlink).
 */
export function direntKey(parent: bigint, name: string): Buffer {
  const n = Buffer.from(name);
  const k = Buffer.alloc(8 + n.length);
  putU64BE(k, 0, parent); n.copy(k, 8);
  return k;
}
export const encodeDirent = (ino: bigint, mode: number): Buffer => {
  const b = Buffer.alloc(9);
  putU64LE(b, 0, ino);
  b[8] = (mode & S_IFMT) === S_IFDIR ? 1 : (mode & S_IFMT) === S_IFLNK ? 3 : 2;
  return b;
};
export const decodeDirent = (b: Buffer): bigint => {
  if (b.length !== 9) throw new VdfsError('CORRUPT', 'bad directory entry');
  return getU64LE(b, 0);
};
