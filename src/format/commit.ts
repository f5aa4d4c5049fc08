/**
 * Commit record codec (format v3, commit record 3): one slot of the commit ring, slot = txg %
 * commitSlots. A commit is valid when its own checksum holds AND every log extent it names
 * hashes to the value it records; open() takes the newest valid one. Slots written before the
 * oplog ('VDFSCM02') are read too: the same, without bytes 224..255, extents from 224.
 *
 * | off | size | field       | meaning                                                     |
 * |-----|------|-------------|-------------------------------------------------------------|
 * |   0 |    8 | magic       | 'VDFSCM03'                                                  |
 * |   8 |    8 | txg         | transaction group number                                    |
 * |  16 |    8 | time        | ms since the epoch                                          |
 * |  24 |   16 | uuid        | datastore id (a stale ring from another datastore is ignored) |
 * |  40 |    8 | nextIno     | next inode number to hand out                               |
 * |  48 |    4 | segCount    | segments the datastore file holds                           |
 * |  52 |    4 | openSeg     | segment appends continue in                                 |
 * |  56 |    4 | openOff     | offset appends continue at                                  |
 * |  60 |    4 | nExtents    | log extents written by this txg (≤ COMMIT_MAX_EXTENTS)      |
 * |  64 |   32 | inodeRoot   | block pointer: inode tree                                   |
 * |  96 |   32 | direntRoot  | block pointer: directory-entry tree                         |
 * | 128 |   32 | segRoot     | block pointer: segment-usage tree                           |
 * | 160 |   32 | snapRoot    | block pointer: snapshot tree (src/snap/record.ts)           |
 * | 192 |   32 | deadRoot    | block pointer: dead-list tree (src/snap/deadlist.ts)        |
 * | 224 |    8 | oplogChain  | the oplog chain whose blocks continue this commit (0: none) |
 * | 232 |    8 | oplogSeq    | sequence number of the chain's next block                   |
 * | 240 |    8 | oplogCovered| apply sequence number the commit covers (replay skips ≤)    |
 * | 248 |    4 | oplogSeg    | segment of the chain's next block                           |
 * | 252 |    4 | oplogOff    | offset of the chain's next block in it                      |
 * | 256 | 20×n | extents     | per extent: u32 seg, u32 start, u32 end, u64 xxhash64       |
 * | end |    8 | checksum    | xxhash64 of every byte before it                            |
 * |4056 |    8 | sbGen       | superblock generation the commit was written under          |
 * |4064 |   32 | mac         | HMAC-SHA256 of bytes 0..4063 when the datastore has a key   |
 *
 * A datastore with a key (superblock keyCheck) takes a commit newer than the superblock's
 * keyedTxg only if its MAC holds, so its roots — and the sealed bit of each root pointer — are
 * authenticated; below a sealed root every pointer sits inside a sealed node. Its sbGen lets
 * open refuse a superblock older than the commits (an older signed copy put back).
 */
import { xxh64 } from '../codec/checksum.js';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { BlockPtr, decodePtr, encodePtr } from './ptr.js';
import { getNumLE, getU64LE, putNumLE, putU64LE } from '../codec/u64.js';

export const COMMIT_MAGIC = Buffer.from('VDFSCM03');
/** Commit records written before the oplog: no oplog fields, extents from byte 224. */
const COMMIT_MAGIC_V2 = Buffer.from('VDFSCM02');
const OPLOG_AT = 224;
const EXT_AT = 256;
const EXT_AT_V2 = 224;
const EXT_SIZE = 20;
export const COMMIT_MAC_AT = LIMITS.SLOT_SIZE - 32;
const SB_GEN_AT = COMMIT_MAC_AT - 8;
/** Bytes of a slot the commit's xxhash64 covers, checksum included, for n extents. */
export const commitHashedBytes = (n: number): number => EXT_AT + n * EXT_SIZE + 8;

export interface LogExtent { seg: number; start: number; end: number; hash: bigint }

/**
 * Where the oplog (src/oplog/) continues after a commit: the block with sequence `seq` of chain
 * `chain`, at seg/off. Replay applies the entries there and after whose apply sequence number
 * is above `covered`. chain 0: no oplog.
 */
export interface OplogHead { chain: bigint; seq: bigint; covered: bigint; seg: number; off: number }
export const NO_OPLOG: OplogHead = { chain: 0n, seq: 0n, covered: 0n, seg: 0, off: 0 };

export interface CommitRecord {
  txg: bigint;
  time: number;
  uuid: Buffer;
  nextIno: bigint;
  segCount: number;
  openSeg: number;
  openOff: number;
  inodeRoot: BlockPtr;
  direntRoot: BlockPtr;
  segRoot: BlockPtr;
  snapRoot: BlockPtr;
  deadRoot: BlockPtr;
  extents: LogExtent[];
  oplog: OplogHead;
  /** The superblock generation in force when it was written. */
  sbGen: bigint;
}

/**
 * `mac`, when the datastore has a key, signs bytes 0..COMMIT_MAC_AT. `v2`: the record without
 * the oplog head, for a v3 datastore (which an older vdfs must still open).
 */
export function encodeCommit(c: CommitRecord, mac?: (bytes: Buffer) => Buffer, v2 = false): Buffer {
  if (c.extents.length > LIMITS.COMMIT_MAX_EXTENTS) throw new VdfsError('TOO_BIG', 'too many extents in one commit');
  if (v2 && c.oplog.chain !== 0n) throw new VdfsError('INVALID', 'a v3 datastore has no oplog');
  const b = Buffer.alloc(LIMITS.SLOT_SIZE);
  (v2 ? COMMIT_MAGIC_V2 : COMMIT_MAGIC).copy(b, 0);
  putU64LE(b, 8, c.txg);
  putNumLE(b, 16, c.time);
  c.uuid.copy(b, 24, 0, 16);
  putU64LE(b, 40, c.nextIno);
  b.writeUInt32LE(c.segCount, 48);
  b.writeUInt32LE(c.openSeg, 52);
  b.writeUInt32LE(c.openOff, 56);
  b.writeUInt32LE(c.extents.length, 60);
  encodePtr(c.inodeRoot, b, 64);
  encodePtr(c.direntRoot, b, 96);
  encodePtr(c.segRoot, b, 128);
  encodePtr(c.snapRoot, b, 160);
  encodePtr(c.deadRoot, b, 192);
  if (!v2) {
    putU64LE(b, OPLOG_AT, c.oplog.chain);
    putU64LE(b, OPLOG_AT + 8, c.oplog.seq);
    putU64LE(b, OPLOG_AT + 16, c.oplog.covered);
    b.writeUInt32LE(c.oplog.seg, OPLOG_AT + 24);
    b.writeUInt32LE(c.oplog.off, OPLOG_AT + 28);
  }
  let at = v2 ? EXT_AT_V2 : EXT_AT;
  for (const e of c.extents) {
    b.writeUInt32LE(e.seg, at);
    b.writeUInt32LE(e.start, at + 4);
    b.writeUInt32LE(e.end, at + 8);
    putU64LE(b, at + 12, e.hash);
    at += EXT_SIZE;
  }
  putU64LE(b, at, xxh64(b.subarray(0, at)));
  putU64LE(b, SB_GEN_AT, c.sbGen);
  mac?.(b.subarray(0, COMMIT_MAC_AT)).copy(b, COMMIT_MAC_AT);
  return b;
}

/** Decode a slot; returns null when the slot holds no valid commit (never written, torn, garbled). */
export function decodeCommit(b: Buffer, uuid: Buffer): CommitRecord | null {
  if (b.length < LIMITS.SLOT_SIZE) return null;
  const v2 = b.subarray(0, 8).equals(COMMIT_MAGIC_V2);
  if (!v2 && !b.subarray(0, 8).equals(COMMIT_MAGIC)) return null;
  const n = b.readUInt32LE(60);
  if (n > LIMITS.COMMIT_MAX_EXTENTS) return null;
  const extAt = v2 ? EXT_AT_V2 : EXT_AT;
  const end = extAt + n * EXT_SIZE;
  if (getU64LE(b, end) !== xxh64(b.subarray(0, end))) return null;
  if (!b.subarray(24, 40).equals(uuid)) return null;
  const extents: LogExtent[] = [];
  for (let i = 0, at = extAt; i < n; i++, at += EXT_SIZE) {
    extents.push({ seg: b.readUInt32LE(at), start: b.readUInt32LE(at + 4), end: b.readUInt32LE(at + 8), hash: getU64LE(b, at + 12) });
  }
  return {
    txg: getU64LE(b, 8),
    time: getNumLE(b, 16),
    uuid: Buffer.from(b.subarray(24, 40)),
    nextIno: getU64LE(b, 40),
    segCount: b.readUInt32LE(48),
    openSeg: b.readUInt32LE(52),
    openOff: b.readUInt32LE(56),
    inodeRoot: decodePtr(b, 64),
    direntRoot: decodePtr(b, 96),
    segRoot: decodePtr(b, 128),
    snapRoot: decodePtr(b, 160),
    deadRoot: decodePtr(b, 192),
    extents,
    oplog: v2 ? NO_OPLOG : {
      chain: getU64LE(b, OPLOG_AT), seq: getU64LE(b, OPLOG_AT + 8), covered: getU64LE(b, OPLOG_AT + 16),
      seg: b.readUInt32LE(OPLOG_AT + 24), off: b.readUInt32LE(OPLOG_AT + 28),
    },
    sbGen: getU64LE(b, SB_GEN_AT),
  };
}
