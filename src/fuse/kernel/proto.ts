/**
 * The Linux FUSE wire protocol (7.x, `include/uapi/linux/fuse.h`): the numbers vdfs uses and
 * the codecs for the structures it reads and writes. All fields are little-endian on x86-64.
 *
 * | structure          | bytes | fields (offset: field, width)                                                   |
 * |--------------------|-------|---------------------------------------------------------------------------------|
 * | fuse_in_header     | 40    | 0 len u32, 4 opcode u32, 8 unique u64, 16 nodeid u64, 24 uid u32, 28 gid u32,   |
 * |                    |       | 32 pid u32, 36 total_extlen u16, 38 pad u16                                     |
 * | fuse_out_header    | 16    | 0 len u32, 4 error i32 (0 or −errno), 8 unique u64                              |
 * | fuse_attr          | 88    | 0 ino, 8 size, 16 blocks, 24 atime, 32 mtime, 40 ctime (u64 s); 48 atimensec,   |
 * |                    |       | 52 mtimensec, 56 ctimensec, 60 mode, 64 nlink, 68 uid, 72 gid, 76 rdev,         |
 * |                    |       | 80 blksize, 84 flags (u32)                                                      |
 * | fuse_entry_out     | 128   | 0 nodeid, 8 generation, 16 entry_valid, 24 attr_valid (u64); 32 entry_valid_nsec,|
 * |                    |       | 36 attr_valid_nsec (u32); 40 fuse_attr                                          |
 * | fuse_attr_out      | 104   | 0 attr_valid u64, 8 attr_valid_nsec u32, 12 pad u32, 16 fuse_attr               |
 * | fuse_open_out      | 16    | 0 fh u64, 8 open_flags u32, 12 pad u32                                          |
 * | fuse_write_out     | 8     | 0 size u32, 4 pad u32                                                           |
 * | fuse_kstatfs       | 80    | 0 blocks, 8 bfree, 16 bavail, 24 files, 32 ffree (u64); 40 bsize, 44 namelen,   |
 * |                    |       | 48 frsize, 52 pad, 56 spare[6] (u32)                                            |
 * | fuse_init_out      | 64    | 0 major, 4 minor, 8 max_readahead, 12 flags (u32); 16 max_background,           |
 * |                    |       | 18 congestion_threshold (u16); 20 max_write, 24 time_gran (u32); 28 max_pages,  |
 * |                    |       | 30 map_alignment (u16); 32 flags2 u32; 36 unused[7]                             |
 * | fuse_dirent        | 24+n  | 0 ino u64, 8 off u64, 16 namelen u32, 20 type u32, 24 name (padded to 8)        |
 *
 * Request bodies (after the in-header) are read where they are used: see `ops.ts`.
 */
import { getNumLE, getU64LE, putNumLE, putU64LE } from '../../codec/u64.js';

export const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9,
  UNLINK: 10, RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17,
  RELEASE: 18, FSYNC: 20, SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25,
  INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, ACCESS: 34, CREATE: 35,
  INTERRUPT: 36, DESTROY: 38, BATCH_FORGET: 42, FALLOCATE: 43, RENAME2: 45, LSEEK: 46, SYNCFS: 50,
} as const;

/** INIT flags vdfs asks for (each only if the kernel offers it). */
export const INIT = {
  ASYNC_READ: 1 << 0, BIG_WRITES: 1 << 5, ASYNC_DIO: 1 << 15,
  PARALLEL_DIROPS: 1 << 18, MAX_PAGES: 1 << 22,
} as const;

export const FATTR = { MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, FH: 1 << 6, ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8 } as const;
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;
export const RENAME_NOREPLACE = 1;
/** fallocate(2) mode bits (linux/falloc.h); the request body is fuse_fallocate_in: 0 fh, 8 offset, 16 length (u64), 24 mode u32. */
export const FALLOC = { KEEP_SIZE: 0x01, PUNCH_HOLE: 0x02, ZERO_RANGE: 0x10 } as const;
/** lseek(2) whence values the kernel passes to FUSE_LSEEK. */
export const SEEK_DATA = 3, SEEK_HOLE = 4;

export const KERNEL_MAJOR = 7;
/** The newest minor version whose structures this file knows (fuse_init_out at 64 bytes from 23 on). */
export const KERNEL_MINOR = 38;
export const IN_HEADER = 40;
export const OUT_HEADER = 16;
const ATTR = 88;
export const ENTRY_OUT = 40 + ATTR;
export const ATTR_OUT = 16 + ATTR;
const DIRENT_HEAD = 24;

export interface InHeader { len: number; opcode: number; unique: bigint; nodeid: number; uid: number; gid: number; pid: number }

export function readInHeader(b: Buffer): InHeader {
  return {
    len: b.readUInt32LE(0), opcode: b.readUInt32LE(4), unique: getU64LE(b, 8),
    nodeid: getNumLE(b, 16), uid: b.readUInt32LE(24), gid: b.readUInt32LE(28), pid: b.readUInt32LE(32),
  };
}

export function outHeader(len: number, error: number, unique: bigint): Buffer {
  const b = Buffer.allocUnsafe(OUT_HEADER);
  b.writeUInt32LE(len, 0); b.writeInt32LE(error, 4); putU64LE(b, 8, unique);
  return b;
}

/** A NUL-terminated name at `off` (the kernel always terminates names). */
export function cstring(b: Buffer, off: number): { s: string; next: number } {
  const end = b.indexOf(0, off);
  const stop = end < 0 ? b.length : end;
  return { s: b.toString('utf8', off, stop), next: stop + 1 };
}

/** What vdfs knows of a file, in the units the protocol wants: times in milliseconds since the epoch. */
export interface Attr { ino: number; size: number; blocks: number; atime: number; mtime: number; ctime: number; mode: number; nlink: number; uid: number; gid: number; blksize: number }

function writeTime(b: Buffer, ms: number, secAt: number, nsecAt: number): void {
  const s = Math.floor(ms / 1000);
  putNumLE(b, secAt, Math.max(0, s));
  b.writeUInt32LE(Math.max(0, Math.round((ms - s * 1000) * 1e6)) % 1e9, nsecAt);
}

function writeAttr(b: Buffer, at: number, a: Attr): void {
  putNumLE(b, at, a.ino);
  putNumLE(b, at + 8, a.size);
  putNumLE(b, at + 16, a.blocks);
  writeTime(b, a.atime, at + 24, at + 48);
  writeTime(b, a.mtime, at + 32, at + 52);
  writeTime(b, a.ctime, at + 40, at + 56);
  b.writeUInt32LE(a.mode >>> 0, at + 60);
  b.writeUInt32LE(a.nlink, at + 64);
  b.writeUInt32LE(a.uid >>> 0, at + 68);
  b.writeUInt32LE(a.gid >>> 0, at + 72);
  b.writeUInt32LE(0, at + 76);
  b.writeUInt32LE(a.blksize, at + 80);
  b.writeUInt32LE(0, at + 84);
}

/** Splits a cache timeout in milliseconds into seconds at `secAt` (u64) and nanoseconds at `nsecAt` (u32). */
function writeValid(b: Buffer, ms: number, secAt: number, nsecAt: number): void {
  putNumLE(b, secAt, Math.floor(ms / 1000));
  b.writeUInt32LE((ms % 1000) * 1e6, nsecAt);
}

export function entryOut(nodeid: number, a: Attr, validMs: number): Buffer {
  const b = Buffer.alloc(ENTRY_OUT);
  putNumLE(b, 0, nodeid);
  writeValid(b, validMs, 16, 32);
  writeValid(b, validMs, 24, 36);
  writeAttr(b, 40, a);
  return b;
}

export function attrOut(a: Attr, validMs: number): Buffer {
  const b = Buffer.alloc(ATTR_OUT);
  writeValid(b, validMs, 0, 8);
  writeAttr(b, 16, a);
  return b;
}

export function openOut(fh: number, flags: number): Buffer {
  const b = Buffer.alloc(16);
  putNumLE(b, 0, fh); b.writeUInt32LE(flags, 8);
  return b;
}

export function writeOut(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size, 0);
  return b;
}

export interface Statfs { blocks: number; bfree: number; bavail: number; files: number; ffree: number; bsize: number; namelen: number; frsize: number }

export function statfsOut(s: Statfs): Buffer {
  const b = Buffer.alloc(80);
  [s.blocks, s.bfree, s.bavail, s.files, s.ffree].forEach((v, i) => putNumLE(b, i * 8, Math.max(0, Math.floor(v))));
  b.writeUInt32LE(s.bsize, 40); b.writeUInt32LE(s.namelen, 44); b.writeUInt32LE(s.frsize, 48);
  return b;
}

export interface InitIn { major: number; minor: number; maxReadahead: number; flags: number }

export function readInit(body: Buffer): InitIn {
  return { major: body.readUInt32LE(0), minor: body.readUInt32LE(4), maxReadahead: body.readUInt32LE(8), flags: body.readUInt32LE(12) };
}

export interface InitOut { minor: number; maxReadahead: number; flags: number; maxBackground: number; congestion: number; maxWrite: number; maxPages: number }

export function initOut(o: InitOut): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(KERNEL_MAJOR, 0); b.writeUInt32LE(o.minor, 4);
  b.writeUInt32LE(o.maxReadahead, 8); b.writeUInt32LE(o.flags >>> 0, 12);
  b.writeUInt16LE(o.maxBackground, 16); b.writeUInt16LE(o.congestion, 18);
  b.writeUInt32LE(o.maxWrite, 20); b.writeUInt32LE(1, 24); // time_gran: nanoseconds
  b.writeUInt16LE(o.maxPages, 28);
  return b;
}

export interface Dirent { ino: number; name: string; mode: number }

/**
 * Packs entries from index `from` into at most `size` bytes; each entry's `off` is the index of
 * the one after it, which is what the kernel hands back to continue. Returns the bytes packed.
 */
export function packDirents(entries: Dirent[], from: number, size: number): Buffer {
  const parts: Buffer[] = [];
  let used = 0;
  for (let i = from; i < entries.length; i++) {
    const name = Buffer.from(entries[i].name);
    const rec = (DIRENT_HEAD + name.length + 7) & ~7;
    if (used + rec > size) break;
    const b = Buffer.alloc(rec);
    putNumLE(b, 0, entries[i].ino);
    putNumLE(b, 8, i + 1);
    b.writeUInt32LE(name.length, 16);
    b.writeUInt32LE((entries[i].mode >>> 12) & 0xf, 20);
    name.copy(b, DIRENT_HEAD);
    parts.push(b);
    used += rec;
  }
  return Buffer.concat(parts, used);
}
