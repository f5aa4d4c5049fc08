/**
 * Superblock codec (format v2). Two copies: at byte 0 and at HEADER_REGION - SLOT_SIZE.
 * Written by mkfs; read at open, the first copy that verifies wins.
 *
 * | off | size | field        | meaning                                   |
 * |-----|------|--------------|-------------------------------------------|
 * |   0 |    8 | magic        | 'VDFSSB01'                                |
 * |   8 |    4 | version      | 2 (v1 had no snapshot or dead-list trees) |
 * |  12 |    4 | blockSize    | logical block size of vdisks              |
 * |  16 |    4 | segmentSize  | bytes per segment                         |
 * |  20 |    4 | commitSlots  | slots in the commit ring                  |
 * |  24 |   16 | uuid         | datastore id                              |
 * |  40 |    8 | created      | ms since the epoch                        |
 * |  48 |    8 | checksum     | xxhash64 of bytes 0..47                   |
 */
import { xxh64 } from '../codec/checksum.js';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';

export const SB_MAGIC = Buffer.from('VDFSSB01');
export const FORMAT_VERSION = 2;
export const SB_COPIES = [0, LIMITS.HEADER_REGION - LIMITS.SLOT_SIZE] as const;

export interface Superblock {
  version: number;
  blockSize: number;
  segmentSize: number;
  commitSlots: number;
  uuid: Buffer;
  created: number;
}

export function encodeSuperblock(sb: Superblock): Buffer {
  const b = Buffer.alloc(LIMITS.SLOT_SIZE);
  SB_MAGIC.copy(b, 0);
  b.writeUInt32LE(sb.version, 8);
  b.writeUInt32LE(sb.blockSize, 12);
  b.writeUInt32LE(sb.segmentSize, 16);
  b.writeUInt32LE(sb.commitSlots, 20);
  sb.uuid.copy(b, 24, 0, 16);
  b.writeBigUInt64LE(BigInt(sb.created), 40);
  b.writeBigUInt64LE(xxh64(b.subarray(0, 48)), 48);
  return b;
}

export function decodeSuperblock(b: Buffer): Superblock {
  if (b.length < 56 || !b.subarray(0, 8).equals(SB_MAGIC)) throw new VdfsError('NO_DATASTORE', 'no vdfs superblock');
  if (b.readBigUInt64LE(48) !== xxh64(b.subarray(0, 48))) throw new VdfsError('BAD_SUPERBLOCK', 'superblock checksum mismatch');
  const sb: Superblock = {
    version: b.readUInt32LE(8),
    blockSize: b.readUInt32LE(12),
    segmentSize: b.readUInt32LE(16),
    commitSlots: b.readUInt32LE(20),
    uuid: Buffer.from(b.subarray(24, 40)),
    created: Number(b.readBigUInt64LE(40)),
  };
  if (sb.version !== FORMAT_VERSION) throw new VdfsError('BAD_SUPERBLOCK', `unsupported format version ${sb.version}`);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  if (!pow2(sb.blockSize) || sb.blockSize < 4096 || sb.blockSize > 1024 * 1024) throw new VdfsError('BAD_SUPERBLOCK', 'bad block size');
  if (!pow2(sb.segmentSize) || sb.segmentSize < 4 * sb.blockSize) throw new VdfsError('BAD_SUPERBLOCK', 'bad segment size');
  if (sb.commitSlots < 2 || LIMITS.COMMIT_RING_OFFSET + sb.commitSlots * LIMITS.SLOT_SIZE > SB_COPIES[1]) {
    throw new VdfsError('BAD_SUPERBLOCK', 'bad commit ring size');
  }
  return sb;
}
