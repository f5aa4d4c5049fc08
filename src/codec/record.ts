/**
 * Record codec: the header in front of every record stored in a segment.
 *
 * | off | size | field        | meaning                                                    |
 * |-----|------|--------------|------------------------------------------------------------|
 * |   0 |    4 | magic        | 'VDR1' (0x56445231)                                        |
 * |   4 |    1 | kind         | 1 data block, 2 tree node, 3 extent summary, 4 oplog block  |
 * |   5 |    1 | codec        | bits 0-3 compression (0 none, 1 deflate); bit 7 sealed     |
 * |     |      |              | (AES-256-GCM, see seal.ts); bits 4-6 zero. 0 = raw         |
 * |   6 |    2 | reserved     | 0                                                          |
 * |   8 |    4 | logicalLen   | bytes after decoding                                       |
 * |  12 |    4 | storedLen    | payload bytes that follow the header                       |
 * |  16 |    8 | owner        | data: inode number; node: tree id; summary: segment;       |
 * |     |      |              | oplog: chain id                                            |
 * |  24 |    8 | key          | data: logical block number (a sub-block: map-value.ts's    |
 * |     |      |              | subKey); node: level; summary: 0;                          |
 * |     |      |              | oplog: block sequence number                               |
 * |  32 |    8 | birth        | transaction group that wrote it                            |
 * |  40 |    8 | checksum     | xxhash64 over bytes 0..39 and the payload                  |
 * |  48 |    … | payload      | storedLen bytes                                            |
 *
 * Little-endian throughout. The checksum covers the header, so any single changed byte of a
 * record is detected (a changed length is caught before the checksum, by range checks). This
 * codec only frames: the payload is what the block pipeline (block-codec.ts) stored — raw,
 * deflated, sealed, or deflated then sealed — and decodeRecord returns it still encoded.
 */
import { streamXxh64, xxh64 } from './checksum.js';
import { isKnownCompress } from './compress.js';
import { VdfsError } from '../errors.js';
import { invariant } from '../limits.js';
import { getU64LE, putU64LE } from './u64.js';

export const RECORD_MAGIC = 0x56445231;
export const RECORD_HEADER = 48;
export const enum RecordKind { Data = 1, Node = 2, Summary = 3, Oplog = 4 }
export const CODEC_RAW = 0;
/** Codec byte: the compression in the low nibble, the sealed flag in bit 7. */
export const CODEC_COMPRESS_MASK = 0x0f;
export const CODEC_SEALED = 0x80;

export interface RecordMeta {
  kind: RecordKind;
  owner: bigint;
  key: bigint;
  birth: bigint;
}

export interface DecodedRecord extends RecordMeta {
  /** The stored payload, still encoded as `codec` says. */
  payload: Buffer;
  checksum: bigint;
  codec: number;
  logicalLen: number;
}

export interface EncodedRecord { bytes: Buffer; checksum: bigint }

/** Payloads made by framedBuffer: RECORD_HEADER bytes before each are theirs, for the header. */
const FRAMED = new WeakSet<Buffer>();

/**
 * A buffer for a payload of len bytes with room for its record header in front, so that
 * encodeRecord frames it in place instead of copying it (the write path's dirty blocks: each is
 * encoded once, after its txg is frozen, and never written again).
 */
export function framedBuffer(len: number, zero = false): Buffer {
  return framedIn(zero ? Buffer.alloc(RECORD_HEADER + len) : Buffer.allocUnsafe(RECORD_HEADER + len), len);
}

/** Whether encodeRecord frames this payload in place (it has room for its header in front). */
export const isFramed = (payload: Buffer): boolean => FRAMED.has(payload);

/** The payload of len bytes inside `whole`, after room for its record header (so encodeRecord frames it in place). */
export function framedIn(whole: Buffer, len: number): Buffer {
  invariant(whole.length >= RECORD_HEADER + len, 'a framed payload fits its buffer after the header');
  const payload = whole.subarray(RECORD_HEADER, RECORD_HEADER + len);
  FRAMED.add(payload);
  return payload;
}

/** Header bytes 0..39 are what the checksum covers before the payload; the checksum field is bytes 40..47. */
const CHECKSUM_AT = 40;
/** Where encodeRecord first writes header byte 0: CHECKSUM_AT bytes before the payload. */
const HEAD_STAGED = RECORD_HEADER - CHECKSUM_AT;

/** Encode a record: header + stored payload (already encoded as `codec` says), returning the bytes and the checksum. */
export function encodeRecord(meta: RecordMeta, payload: Buffer, codec = CODEC_RAW, logicalLen = payload.length): EncodedRecord {
  const framed = isFramed(payload);
  const bytes = framed ? Buffer.from(payload.buffer, payload.byteOffset - RECORD_HEADER, RECORD_HEADER + payload.length) : Buffer.allocUnsafe(RECORD_HEADER + payload.length);
  // The hashed header bytes are staged right before the payload, so header-then-payload is one
  // contiguous xxh64 pass (one copy into the hasher and one call, where streaming took three of
  // each), and then moved to the front.
  const h = HEAD_STAGED;
  bytes.writeUInt32LE(RECORD_MAGIC, h);
  bytes[h + 4] = meta.kind;
  bytes[h + 5] = codec;
  bytes.writeUInt16LE(0, h + 6);
  bytes.writeUInt32LE(logicalLen, h + 8);
  bytes.writeUInt32LE(payload.length, h + 12);
  putU64LE(bytes, h + 16, meta.owner);
  putU64LE(bytes, h + 24, meta.key);
  putU64LE(bytes, h + 32, meta.birth);
  if (!framed) payload.copy(bytes, RECORD_HEADER);
  const checksum = xxh64(bytes.subarray(h, RECORD_HEADER + payload.length));
  bytes.copyWithin(0, h, RECORD_HEADER);
  putU64LE(bytes, CHECKSUM_AT, checksum);
  return { bytes, checksum };
}

/** xxhash64 of header bytes 0..39 and the payload, streamed (no joined copy: half the time per 32 KiB record). */
export function recordChecksum(bytes: Buffer, storedLen: number): bigint {
  return streamXxh64().update(bytes.subarray(0, CHECKSUM_AT)).update(bytes.subarray(RECORD_HEADER, RECORD_HEADER + storedLen)).digest();
}

/** The codec byte of an encoded record. */
export const recordCodec = (bytes: Buffer): number => bytes[5];

/** Parse only the header (for walking a segment); throws CORRUPT when it is not a record. */
export function peekRecordLength(bytes: Buffer): number {
  if (bytes.length < RECORD_HEADER || bytes.readUInt32LE(0) !== RECORD_MAGIC) {
    throw new VdfsError('CORRUPT', 'no record header');
  }
  return RECORD_HEADER + bytes.readUInt32LE(12);
}

/**
 * Decode and verify a record. `expect` names what the caller's pointer says it is; any
 * mismatch or damage throws a typed error (CHECKSUM or CORRUPT), never returns wrong bytes.
 */
export function decodeRecord(bytes: Buffer, expect?: Partial<RecordMeta> & { checksum?: bigint }): DecodedRecord {
  if (bytes.length < RECORD_HEADER) throw new VdfsError('CORRUPT', 'record shorter than its header');
  if (bytes.readUInt32LE(0) !== RECORD_MAGIC) throw new VdfsError('CORRUPT', 'bad record magic');
  const kind = bytes[4] as RecordKind;
  const codec = bytes[5];
  const logicalLen = bytes.readUInt32LE(8);
  const storedLen = bytes.readUInt32LE(12);
  if (!knownCodec(codec)) throw new VdfsError('CORRUPT', `unknown codec ${codec}`);
  if (bytes.readUInt16LE(6) !== 0) throw new VdfsError('CORRUPT', 'reserved header bytes set');
  if (storedLen !== bytes.length - RECORD_HEADER) throw new VdfsError('CORRUPT', 'record length mismatch');
  if (codec === CODEC_RAW && logicalLen !== storedLen) throw new VdfsError('CORRUPT', 'raw record with differing lengths');
  const checksum = getU64LE(bytes, CHECKSUM_AT);
  if (recordChecksum(bytes, storedLen) !== checksum) throw new VdfsError('CHECKSUM', 'record checksum mismatch');
  const rec: DecodedRecord = {
    kind,
    owner: getU64LE(bytes, 16),
    key: getU64LE(bytes, 24),
    birth: getU64LE(bytes, 32),
    checksum,
    codec,
    logicalLen,
    payload: bytes.subarray(RECORD_HEADER),
  };
  if (expect) {
    for (const f of ['kind', 'owner', 'key', 'birth', 'checksum'] as const) {
      if (expect[f] !== undefined && expect[f] !== rec[f]) {
        throw new VdfsError('CORRUPT', `record ${f} is ${rec[f]}, expected ${expect[f]}`);
      }
    }
  }
  return rec;
}

function knownCodec(codec: number): boolean {
  return (codec & ~(CODEC_COMPRESS_MASK | CODEC_SEALED)) === 0 && isKnownCompress(codec & CODEC_COMPRESS_MASK);
}
