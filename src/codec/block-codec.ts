/**
 * The block pipeline: what a record's payload goes through on its way to the log and back.
 *
 *   encode: block → compress (data records only, when the policy says and it pays) →
 *           seal (every data and node record, when the policy says) → frame (record.ts)
 *   decode: frame check (checksum, identity) → open the seal → inflate → exactly logicalLen bytes
 *
 * The policy (compression, level, encryption) comes from the superblock and may change while
 * a datastore is open: each record's codec byte says what was done to it, so records written
 * under any earlier policy stay readable. Extent summaries are never compressed or sealed
 * (they name offsets, inode and block numbers only).
 */
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { CODEC_COMPRESS_MASK, CODEC_SEALED, decodeRecord, DecodedRecord, encodeRecord, EncodedRecord, framedIn, isFramed, RECORD_HEADER, recordCodec, RecordMeta } from './record.js';
import { Compress, compressBlock, inflateBlock } from './compress.js';
import { KeyRing, seal, sealAad, SealSlot, unseal } from './seal.js';
import { CodecPool, jobsOf } from './pool.js';

export interface Policy { compress: Compress; level: number; encrypt: boolean }
export const POLICY_OFF: Policy = { compress: Compress.None, level: LIMITS.COMPRESS_DEFAULT_LEVEL, encrypt: false };

/** How a run of records is encoded; `slot` holds the run's reserved nonces (record i uses counter + i). */
export interface EncodeOpts { compress: Compress; level: number; uuid: Buffer; slot: SealSlot | null }

/** The seal of record i of a run: its own nonce, or none when the record stays unsealed. */
export const slotOf = (slot: SealSlot | null, sealed: boolean, i: number): SealSlot | null =>
  (sealed && slot ? { ...slot, counter: slot.counter + BigInt(i) } : null);

/** Encodes one record (pure; also what the worker threads run). */
export function encodeBlock(meta: RecordMeta, plain: Buffer, o: EncodeOpts): EncodedRecord {
  let payload = plain, codec = 0;
  if (o.compress === Compress.Deflate) {
    const c = compressBlock(plain, o.level);
    if (c) { payload = c; codec = Compress.Deflate; }
  }
  if (o.slot) {
    codec |= CODEC_SEALED;
    payload = seal(o.slot, sealAad(o.uuid, meta, codec, plain.length), payload);
  }
  return encodeRecord(meta, payload, codec, plain.length);
}

/** The plain payload of a record whose frame is verified; keyOf is null when no key is held. */
function decodePayload(r: DecodedRecord, uuid: Buffer, keyOf: ((epoch: Buffer) => Buffer) | null): Buffer {
  let payload = r.payload;
  if (r.codec & CODEC_SEALED) {
    if (!keyOf) throw new VdfsError('KEY', 'an encrypted record was read without the key');
    payload = unseal(keyOf, sealAad(uuid, r, r.codec, r.logicalLen), payload);
  }
  if ((r.codec & CODEC_COMPRESS_MASK) === Compress.Deflate) return inflateBlock(payload, r.logicalLen);
  if (payload.length !== r.logicalLen) throw new VdfsError('CORRUPT', `record payload is ${payload.length} bytes, its header says ${r.logicalLen}`);
  return payload;
}

/**
 * Records framed as they are (no codec to run), one at a time. A payload with room for its
 * header in front (a dirty block) is framed in place; one without (a sub-block of a dirty
 * block) is copied into the current slab, not into a buffer of its own: a buffer of 4 KiB or
 * more is its own allocation outside Node's pool (~1.5 us each, a tenth of a commit's framing).
 * A slab holds up to CODEC_JOB_BYTES of what `loose` (the bytes, headers included, of the
 * payloads to copy) says is still to come: a commit of one 4 KiB write takes 4 KiB, not 1 MiB
 * (which took the commit-per-write switch from 926 to 626 IOPS).
 */
export class Framer {
  private slab = Buffer.alloc(0);
  private at = 0;
  constructor(private readonly counted: (r: EncodedRecord, ms: number) => void = () => undefined, private loose = Infinity) {}

  frame(x: DataItem): EncodedRecord {
    const t0 = performance.now();
    let data = x.data;
    if (!isFramed(data)) {
      const need = RECORD_HEADER + data.length;
      if (this.at + need > this.slab.length) {
        this.slab = Buffer.allocUnsafe(Math.max(need, Math.min(LIMITS.CODEC_JOB_BYTES, this.loose)));
        this.at = 0;
      }
      this.loose -= need;
      data = framedIn(this.slab.subarray(this.at), x.data.length);
      x.data.copy(data);
      this.at += need;
    }
    const r = encodeRecord(x.meta, data);
    this.counted(r, performance.now() - t0);
    return r;
  }
}

/** Bytes, headers included, of the items' payloads that framing copies (those without room for a header in front). */
export const looseBytes = (items: DataItem[]): number => items.reduce((a, x) => a + (isFramed(x.data) ? 0 : RECORD_HEADER + x.data.length), 0);

/** Records framed as they are, a job's worth (CODEC_JOB_BYTES) per event-loop turn. */
async function framed(items: DataItem[]): Promise<EncodedRecord[]> {
  const out: EncodedRecord[] = [];
  const framer = new Framer(undefined, looseBytes(items));
  for (const job of jobsOf(items)) {
    for (const x of job) out.push(framer.frame(x));
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** A data block to encode; `seal` keeps it sealed whatever the policy (the cleaner moving a sealed block). */
export interface DataItem { meta: RecordMeta; data: Buffer; seal?: boolean }

/** Encodes and decodes records of one datastore under its current policy. */
export class BlockCodec {
  /** Figures for status: data records by how they were stored. */
  readonly stats = { compressed: 0, raw: 0, sealed: 0, encodeMs: 0 };

  private pool: CodecPool | null = null;

  /** `workers`: codec worker threads to start when data first needs encoding (0: encode inline). */
  constructor(public policy: Policy, private uuid: Buffer, public ring: KeyRing | null, private workers: number) {
    if (policy.encrypt && !ring) throw new VdfsError('KEY', 'encryption is on but no key is held');
  }

  /** Whether encoding these items does more than framing (then they go through the pool). */
  active(items: DataItem[]): boolean {
    return this.policy.compress !== Compress.None || this.policy.encrypt || items.some((x) => x.seal);
  }

  /** Whether an item is sealed: under the policy, or because it was (a sealed block stays sealed). */
  sealed(x: DataItem): boolean { return this.policy.encrypt || !!x.seal; }

  private opts(compress: boolean, job: DataItem[]): EncodeOpts {
    const p = this.policy;
    const slot = job.some((x) => this.sealed(x)) ? this.keys().reserve(job.length) : null;
    return { compress: compress ? p.compress : Compress.None, level: p.level, uuid: this.uuid, slot };
  }

  private keys(): KeyRing {
    if (!this.ring) throw new VdfsError('KEY', 'a record must be sealed but no key is held');
    return this.ring;
  }

  /** A tree node: sealed when the policy encrypts, never compressed (on the commit's own path, and small). */
  encodeNode(meta: RecordMeta, plain: Buffer): EncodedRecord {
    const p = this.policy;
    return encodeBlock(meta, plain, { compress: Compress.None, level: p.level, uuid: this.uuid, slot: p.encrypt ? this.keys().reserve(1) : null });
  }

  /**
   * An oplog block: sealed whenever a key is held (the log's data must not sit in the clear on a
   * datastore with a key, whatever the policy), never compressed. `logSealed` says what a
   * reader must expect.
   */
  encodeLog(meta: RecordMeta, plain: Buffer): EncodedRecord {
    return encodeBlock(meta, plain, { compress: Compress.None, level: 0, uuid: this.uuid, slot: this.ring ? this.ring.reserve(1) : null });
  }

  get logSealed(): boolean { return this.ring !== null; }

  /** Data blocks, in order; large batches go to the worker threads, or are done inline between event-loop turns. */
  async encodeData(items: DataItem[]): Promise<EncodedRecord[]> {
    const t0 = performance.now();
    let out: EncodedRecord[];
    if (!this.active(items)) out = await framed(items);
    else if (this.workers > 0 && (this.pool ??= new CodecPool(this.workers)).alive) {
      // A worker dying mid-job fails its jobs; the batch is then done inline (with fresh nonces).
      out = await this.pool.encode(items, (job) => this.opts(true, job), (x) => this.sealed(x)).catch(() => this.inline(items));
    } else out = await this.inline(items);
    for (const r of out) this.count(recordCodec(r.bytes));
    this.stats.encodeMs += performance.now() - t0;
    return out;
  }

  /**
   * A framer for `items`, data blocks that need framing only (not active): a commit frames each record as
   * it appends it, so the log's writes start with the first block instead of after every block
   * of the group is hashed. Counted in status like encodeData's.
   */
  framer(items: DataItem[]): Framer {
    return new Framer((r, ms) => { this.count(recordCodec(r.bytes)); this.stats.encodeMs += ms; }, looseBytes(items));
  }

  private async inline(items: DataItem[]): Promise<EncodedRecord[]> {
    const out: EncodedRecord[] = [];
    for (const job of jobsOf(items)) {
      const o = this.opts(true, job);
      job.forEach((x, i) => out.push(encodeBlock(x.meta, x.data, { ...o, slot: slotOf(o.slot, this.sealed(x), i) })));
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }

  private count(codec: number): void {
    if (codec & CODEC_COMPRESS_MASK) this.stats.compressed++; else this.stats.raw++;
    if (codec & CODEC_SEALED) this.stats.sealed++;
  }

  /**
   * Verifies a record against what its pointer says — identity, checksum, and whether it is
   * sealed (so a forged unsealed record cannot stand in for a sealed one) — and returns the
   * plain payload.
   */
  decode(bytes: Buffer, expect: Parameters<typeof decodeRecord>[1], sealed: boolean): Buffer {
    const r = decodeRecord(bytes, expect);
    if (!!(r.codec & CODEC_SEALED) !== sealed) throw new VdfsError('AUTH', `record is ${sealed ? 'not ' : ''}sealed, its pointer says it is${sealed ? '' : ' not'}`);
    return this.open(r);
  }

  /** The plain payload of a record already verified (the cleaner's segment walk). */
  open(r: DecodedRecord): Buffer {
    return decodePayload(r, this.uuid, this.ring?.keyOf ?? null);
  }

  async close(): Promise<void> { await this.pool?.close(); this.pool = null; }
}
