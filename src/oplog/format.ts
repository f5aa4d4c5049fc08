/**
 * Oplog block payload codec (oplog format 1). An oplog block is one record (codec/record.ts) of
 * kind 4: owner = chain id, key = block sequence number, birth = the txg open when it was
 * written; sealed whenever the datastore has a key, never compressed. Its plain payload:
 *
 * | off | size | field    | meaning                                                         |
 * |-----|------|----------|-----------------------------------------------------------------|
 * |   0 |    4 | magic    | 'VDOL'                                                          |
 * |   4 |    4 | nextSeg  | segment of the chain's next block                               |
 * |   8 |    4 | nextOff  | its offset in that segment                                      |
 * |  12 |    4 | count    | entries that follow                                             |
 * |  16 |    … | entries  | each 40 bytes + data, padded to 8                               |
 *
 * An entry:
 *
 * | off | size | field    | meaning                                                         |
 * |-----|------|----------|-----------------------------------------------------------------|
 * |   0 |    1 | kind     | 1 write (data at off), 2 size (the file's size set to off)      |
 * |   1 |    3 | reserved | 0                                                               |
 * |   4 |    4 | len      | data bytes (0 for a size entry)                                 |
 * |   8 |    8 | ino      | the file                                                        |
 * |  16 |    8 | seq      | apply sequence number (the order writes reached the open txg)   |
 * |  24 |    8 | off      | byte offset of a write; the new size of a size entry            |
 * |  32 |    8 | mtime    | the file's mtime after the change (ms since the epoch)          |
 * |  40 |  len | data     | the bytes written                                               |
 *
 * Little-endian. The record's checksum (and seal) covers all of it.
 */
import { VdfsError } from '../errors.js';
import { invariant } from '../limits.js';
import { getNumLE, getU64LE, putNumLE, putU64LE } from '../codec/u64.js';

export const OPLOG_MAGIC = 0x4c4f4456; // 'VDOL'
export const OPLOG_HEAD = 16;
export const OPLOG_ENTRY_HEAD = 40;
export const enum EntryKind { Write = 1, Size = 2 }

export interface OplogEntry {
  kind: EntryKind;
  ino: bigint;
  seq: bigint;
  /** Byte offset of a write, or the new size. */
  off: number;
  mtime: number;
  /** The bytes written (empty for a size entry). */
  data: Buffer;
}

export interface OplogBlock { nextSeg: number; nextOff: number; entries: OplogEntry[] }

const pad8 = (n: number): number => (n + 7) & ~7;

/** Bytes an entry takes in a payload. */
export const entryBytes = (e: OplogEntry): number => OPLOG_ENTRY_HEAD + pad8(e.data.length);

/** Encodes a block into a buffer from `alloc` (the chain passes one inside the block's own segment bytes). */
export function encodeOplogBlock(b: OplogBlock, alloc: (len: number) => Buffer = Buffer.allocUnsafe): Buffer {
  let len = OPLOG_HEAD;
  for (const e of b.entries) len += entryBytes(e);
  const out = alloc(len);
  invariant(out.length === len, 'an oplog block is encoded into a buffer of its size');
  out.writeUInt32LE(OPLOG_MAGIC, 0);
  out.writeUInt32LE(b.nextSeg, 4);
  out.writeUInt32LE(b.nextOff, 8);
  out.writeUInt32LE(b.entries.length, 12);
  let at = OPLOG_HEAD;
  for (const e of b.entries) {
    out[at] = e.kind;
    out[at + 1] = 0; out[at + 2] = 0; out[at + 3] = 0;
    out.writeUInt32LE(e.data.length, at + 4);
    putU64LE(out, at + 8, e.ino);
    putU64LE(out, at + 16, e.seq);
    putNumLE(out, at + 24, e.off);
    putNumLE(out, at + 32, e.mtime);
    e.data.copy(out, at + OPLOG_ENTRY_HEAD);
    const end = at + entryBytes(e);
    out.fill(0, at + OPLOG_ENTRY_HEAD + e.data.length, end); // the padding to 8
    at = end;
  }
  return out;
}

/** Decodes a payload whose record was verified; a malformed one throws CORRUPT. */
export function decodeOplogBlock(p: Buffer): OplogBlock {
  const bad = (why: string) => new VdfsError('CORRUPT', `oplog block: ${why}`);
  if (p.length < OPLOG_HEAD || p.readUInt32LE(0) !== OPLOG_MAGIC) throw bad('no magic');
  const count = p.readUInt32LE(12);
  const entries: OplogEntry[] = [];
  let at = OPLOG_HEAD;
  for (let i = 0; i < count; i++) {
    if (at + OPLOG_ENTRY_HEAD > p.length) throw bad('entry past the end');
    const kind = p[at] as EntryKind;
    const len = p.readUInt32LE(at + 4);
    if (kind !== EntryKind.Write && kind !== EntryKind.Size) throw bad(`unknown entry kind ${kind}`);
    if (kind === EntryKind.Size && len !== 0) throw bad('size entry with data');
    if (at + OPLOG_ENTRY_HEAD + len > p.length) throw bad('entry data past the end');
    entries.push({
      kind, ino: getU64LE(p, at + 8), seq: getU64LE(p, at + 16),
      off: getNumLE(p, at + 24), mtime: getNumLE(p, at + 32),
      data: p.subarray(at + OPLOG_ENTRY_HEAD, at + OPLOG_ENTRY_HEAD + len),
    });
    at += OPLOG_ENTRY_HEAD + pad8(len);
  }
  if (at !== p.length) throw bad('bytes after the last entry');
  return { nextSeg: p.readUInt32LE(4), nextOff: p.readUInt32LE(8), entries };
}
