/**
 * Superblock codec (format v5; v3 and v4 are read too). Two copies: at byte 0 and at HEADER_REGION - SLOT_SIZE.
 * Written by mkfs and by each policy change (copy 0, sync, copy 1, sync; generation + 1); read
 * at open, where the valid copy with the highest generation wins.
 *
 * | off | size | field        | meaning                                                    |
 * |-----|------|--------------|------------------------------------------------------------|
 * |   0 |    8 | magic        | 'VDFSSB01'                                                 |
 * |   8 |    4 | version      | 5 (v4: no sub-blocks; v3: no oplog; v2: no codec policy)  |
 * |  12 |    4 | blockSize    | logical block size of vdisks                               |
 * |  16 |    4 | segmentSize  | bytes per segment                                          |
 * |  20 |    4 | commitSlots  | slots in the commit ring                                   |
 * |  24 |   16 | uuid         | datastore id                                               |
 * |  40 |    8 | created      | ms since the epoch                                         |
 * |  48 |    8 | generation   | bumped by every rewrite of the superblock                  |
 * |  56 |    1 | compress     | policy for new data blocks: 0 none, 1 deflate              |
 * |  57 |    1 | level        | compression level 1..9                                     |
 * |  58 |    1 | encrypt      | policy for new records: 0 off, 1 AES-256-GCM               |
 * |  59 |    5 | reserved     | 0                                                          |
 * |  64 |   32 | keyCheck     | proof of the key (seal.ts); all zero when none was ever set |
 * |  96 |    8 | keyedTxg     | newest commit when the key was set: older commits carry no MAC |
 * | 104 |   32 | mac          | HMAC-SHA256 of bytes 0..103 under the key's MAC key (zero: no key) |
 * | 136 |    8 | checksum     | xxhash64 of bytes 0..135                                   |
 *
 * With a key set, the MAC makes the superblock (policy, keyedTxg) tamper-evident to a holder of
 * the key, as the commit records' MACs do for the roots (format/commit.ts).
 */
import { xxh64 } from '../codec/checksum.js';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { Policy } from '../codec/block-codec.js';
import { isKnownCompress, LEVEL_MAX, LEVEL_MIN } from '../codec/compress.js';
import { getNumLE, getU64LE, putNumLE, putU64LE } from '../codec/u64.js';

export const SB_MAGIC = Buffer.from('VDFSSB01');
export const FORMAT_VERSION = 6;
/** Versions this vdfs opens: a v3 datastore keeps its v3 commit records and has no oplog; a v4 one writes no sub-blocks; a v5 one lays at most V5_MAX_SUBS over a block. */
export const READABLE_VERSIONS: readonly number[] = [3, 4, 5, 6];
/** The first version with the oplog (commit record 3). */
export const OPLOG_VERSION = 4;
/** The first version whose block maps hold sub-block records (format/map-value.ts). */
export const SUBS_VERSION = 5;
/** The first version whose map values may hold OVERLAY_MAX_SUBS sub-blocks (v5: V5_MAX_SUBS, format/map-value.ts). */
export const ALL_SUBS_VERSION = 6;
export const SB_COPIES = [0, LIMITS.HEADER_REGION - LIMITS.SLOT_SIZE] as const;
const SB_BYTES = 136;
export const SB_MAC_AT = 104;
const NO_KEY = Buffer.alloc(32);

export interface Superblock {
  version: number;
  blockSize: number;
  segmentSize: number;
  commitSlots: number;
  uuid: Buffer;
  created: number;
  generation: bigint;
  policy: Policy;
  /** Null when no key was ever set. */
  keyCheck: Buffer | null;
  /** Commits up to this txg were written before the key was set (they carry no MAC). */
  keyedTxg: bigint;
}

/** `mac` signs bytes 0..103 (required when a key check is set). */
export function encodeSuperblock(sb: Superblock, mac?: (bytes: Buffer) => Buffer): Buffer {
  const b = Buffer.alloc(LIMITS.SLOT_SIZE);
  SB_MAGIC.copy(b, 0);
  b.writeUInt32LE(sb.version, 8);
  b.writeUInt32LE(sb.blockSize, 12);
  b.writeUInt32LE(sb.segmentSize, 16);
  b.writeUInt32LE(sb.commitSlots, 20);
  sb.uuid.copy(b, 24, 0, 16);
  putNumLE(b, 40, sb.created);
  putU64LE(b, 48, sb.generation);
  b[56] = sb.policy.compress; b[57] = sb.policy.level; b[58] = sb.policy.encrypt ? 1 : 0;
  (sb.keyCheck ?? NO_KEY).copy(b, 64);
  putU64LE(b, 96, sb.keyedTxg);
  if (sb.keyCheck) {
    if (!mac) throw new VdfsError('KEY', 'a keyed superblock needs its MAC');
    mac(b.subarray(0, SB_MAC_AT)).copy(b, SB_MAC_AT);
  }
  putU64LE(b, SB_BYTES, xxh64(b.subarray(0, SB_BYTES)));
  return b;
}

/** The signed bytes of an encoded superblock and its MAC (for `macHolds`). */
export const superblockMac = (b: Buffer): { signed: Buffer; mac: Buffer } => ({ signed: b.subarray(0, SB_MAC_AT), mac: b.subarray(SB_MAC_AT, SB_MAC_AT + 32) });

export function decodeSuperblock(b: Buffer): Superblock {
  if (b.length < SB_BYTES + 8 || !b.subarray(0, 8).equals(SB_MAGIC)) throw new VdfsError('NO_DATASTORE', 'no vdfs superblock');
  const version = b.readUInt32LE(8);
  if (!READABLE_VERSIONS.includes(version)) {
    throw new VdfsError('BAD_SUPERBLOCK', `unsupported format version ${version} (this vdfs reads versions ${READABLE_VERSIONS.join(', ')}; make a new datastore and copy the vdisks over)`);
  }
  if (getU64LE(b, SB_BYTES) !== xxh64(b.subarray(0, SB_BYTES))) throw new VdfsError('BAD_SUPERBLOCK', 'superblock checksum mismatch');
  const keyCheck = Buffer.from(b.subarray(64, 96));
  const sb: Superblock = {
    version,
    blockSize: b.readUInt32LE(12),
    segmentSize: b.readUInt32LE(16),
    commitSlots: b.readUInt32LE(20),
    uuid: Buffer.from(b.subarray(24, 40)),
    created: getNumLE(b, 40),
    generation: getU64LE(b, 48),
    policy: { compress: b[56], level: b[57], encrypt: b[58] === 1 },
    keyCheck: keyCheck.equals(NO_KEY) ? null : keyCheck,
    keyedTxg: getU64LE(b, 96),
  };
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(sb.blockSize) || sb.blockSize < 4096 || sb.blockSize > 1024 * 1024) throw new VdfsError('BAD_SUPERBLOCK', 'bad block size');
  if (!pow2(sb.segmentSize) || sb.segmentSize < 4 * sb.blockSize) throw new VdfsError('BAD_SUPERBLOCK', 'bad segment size');
  if (sb.commitSlots < 2 || LIMITS.COMMIT_RING_OFFSET + sb.commitSlots * LIMITS.SLOT_SIZE > SB_COPIES[1]) {
    throw new VdfsError('BAD_SUPERBLOCK', 'bad commit ring size');
  }
  if (!isKnownCompress(b[56]) || sb.policy.level < LEVEL_MIN || sb.policy.level > LEVEL_MAX || b[58] > 1) throw new VdfsError('BAD_SUPERBLOCK', 'bad codec policy');
  if (sb.policy.encrypt && !sb.keyCheck) throw new VdfsError('BAD_SUPERBLOCK', 'encryption on without a key check');
  if (!b.subarray(59, 64).equals(Buffer.alloc(5))) throw new VdfsError('BAD_SUPERBLOCK', 'reserved superblock bytes set');
  return sb;
}
