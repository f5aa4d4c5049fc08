/**
 * The oplog's blocks on the layout: a chain of records (oplog/format.ts) in segments of their
 * own, taken from the free pool and never named by the trees. Each block says where the next
 * one will go, so the chain is found from the head a commit records (format/commit.ts) without
 * a scan; each block is identified by the chain id (new at every start, so a stale block from
 * an earlier chain never matches) and its sequence number. An append writes its blocks and
 * syncs the layout once — or, where the layout writes durably (the single layout: O_DSYNC),
 * writes them so and syncs nothing else, so it does not wait for a commit's writes in flight
 * to the same file: that is the whole cost of an fsync through the log.
 *
 * A segment of the chain goes back to the pool once a durable commit's head lies past it. At
 * open, the chain the newest commit names is read back (its segments held until it is replayed
 * and committed); reading stops at the first block that is not there or fails its checks.
 */
import { randomBytes } from 'node:crypto';
import { framedIn, peekRecordLength, RECORD_HEADER, RecordKind } from '../codec/record.js';
import { SEAL_OVERHEAD } from '../codec/seal.js';
import { isVdfsError, VdfsError } from '../errors.js';
import { NO_OPLOG, OplogHead } from '../format/commit.js';
import { invariant, LIMITS } from '../limits.js';
import type { Datastore } from '../txn/datastore.js';
import { decodeOplogBlock, encodeOplogBlock, entryBytes, OPLOG_ENTRY_HEAD, OPLOG_HEAD, OplogEntry } from './format.js';

interface Spot { seg: number; off: number }

/** What a broken or missing block throws when the chain is read back: the end of the chain. */
const END_OF_CHAIN = ['CHECKSUM', 'CORRUPT', 'AUTH'] as const;

export class OplogChain {
  /** The chain being written (0n until start()). */
  private chain = 0n;
  private seq = 0n;
  private next: Spot | null = null;
  /** The chain's segments in order, oldest first. */
  private segs: number[] = [];
  /** Entries read back at open, above the commit's covered sequence number, in order. */
  recovered: OplogEntry[] = [];
  private recoveredSegs: number[] = [];
  /** The head the newest durable commit recorded. */
  durable: OplogHead = NO_OPLOG;
  /** Until the recovered entries are replayed, commits carry the durable head on (the chain stays the way to them). */
  private carried = true;
  readonly stats = { blocks: 0, bytes: 0, recoveredBlocks: 0 };

  constructor(private ds: Datastore) {}

  get started(): boolean { return this.chain !== 0n; }
  get segments(): number { return this.segs.length; }

  /** Largest block, in bytes of its segment. */
  private get cap(): number { return Math.min(LIMITS.OPLOG_BLOCK_BYTES, this.ds.sb.segmentSize); }

  /** Least room a block's place has (an empty block always fits): a smaller rest of a segment is left unused. */
  private get minRoom(): number { return Math.max(LIMITS.OPLOG_MIN_ROOM_BYTES, this.overhead(0)); }

  /** Largest entry data a block holds: one entry, its header and padding, in a block of `cap` (a multiple of the alignment). */
  get maxData(): number { return this.cap - (RECORD_HEADER + OPLOG_HEAD + SEAL_OVERHEAD + OPLOG_ENTRY_HEAD + 7); }

  /** Segment bytes a block with `plain` payload bytes takes (record header, seal, alignment). */
  private overhead(plain: number): number {
    const a = this.ds.layout.appendAlign;
    return Math.ceil((RECORD_HEADER + OPLOG_HEAD + plain + SEAL_OVERHEAD) / a) * a - plain;
  }

  /** A fresh chain with a new id, one segment taken for its first block. */
  start(): void {
    this.chain = randomBytes(8).readBigUInt64LE(0) | 1n;
    this.seq = 0n;
    this.segs = [];
    this.next = { seg: this.take(), off: 0 };
  }

  private take(): number {
    const s = this.ds.space.take();
    this.segs.push(s);
    return s;
  }

  /** Where a commit frozen now says the log continues; before start(), the durable head is carried on until retire(). */
  head(covered: bigint): OplogHead {
    if (!this.next) return this.carried ? this.durable : NO_OPLOG;
    return { chain: this.chain, seq: this.seq, covered, seg: this.next.seg, off: this.next.off };
  }

  /**
   * Writes entries (in apply order) as blocks at the chain's next places, then syncs the layout
   * once. A block fills the room at its place (up to OPLOG_BLOCK_BYTES); where the next entry
   * does not fit, an empty block there leads on to a fresh segment.
   */
  async append(entries: OplogEntry[]): Promise<void> {
    invariant(this.next, 'the oplog chain was started before appending');
    const writes: Promise<void>[] = [];
    for (let i = 0; i < entries.length;) {
      const room = Math.min(this.cap, this.ds.sb.segmentSize - this.next.off);
      let plain = 0, j = i;
      while (j < entries.length && this.overhead(plain + entryBytes(entries[j])) + plain + entryBytes(entries[j]) <= room) {
        plain += entryBytes(entries[j]); j++;
      }
      const size = this.overhead(plain) + plain;
      invariant(size <= room, 'an oplog block fits the room at its place');
      writes.push(this.writeBlock(entries.slice(i, j), size, j === i));
      i = j;
    }
    await Promise.all(writes);
    if (!this.ds.layout.writeSegDurable) await this.ds.layout.sync();
  }

  /** Encodes and writes one block of `size` segment bytes at the next place (chooses the one after it first; `fresh`: in a new segment). */
  private writeBlock(entries: OplogEntry[], size: number, fresh: boolean): Promise<void> {
    const at = this.next!;
    const segSize = this.ds.sb.segmentSize;
    const stay = !fresh && at.off + size + this.minRoom <= segSize;
    const next = stay ? { seg: at.seg, off: at.off + size } : { seg: this.take(), off: 0 };
    // The block is encoded into its own segment bytes, after room for the record header, so an
    // unsealed record is framed in place: one buffer per block, where there were three.
    const out = Buffer.allocUnsafe(size);
    const plain = encodeOplogBlock({ nextSeg: next.seg, nextOff: next.off, entries }, (len) => framedIn(out, len));
    const rec = this.ds.codec.encodeLog({ kind: RecordKind.Oplog, owner: this.chain, key: this.seq, birth: this.ds.txg + 1n }, plain);
    invariant(rec.bytes.length <= size, 'an oplog block fits the room it was given');
    if (rec.bytes.buffer !== out.buffer || rec.bytes.byteOffset !== out.byteOffset) {
      // Sealed: the record is a new buffer, at least as long as header and plain payload, so
      // copying it over `out` leaves none of the plain bytes there.
      invariant(rec.bytes.length >= RECORD_HEADER + plain.length, 'a sealed oplog record covers its plain payload');
      rec.bytes.copy(out);
    }
    out.fill(0, rec.bytes.length);
    this.seq++;
    this.next = next;
    this.stats.blocks++;
    this.stats.bytes += size;
    const l = this.ds.layout;
    return l.writeSegDurable ? l.writeSegDurable(at.seg, at.off, out) : l.writeSeg(at.seg, at.off, out);
  }

  /** A commit that recorded `h` is durable: segments of the chain before h's go back to the pool. */
  committed(h: OplogHead): void {
    this.durable = h;
    if (h.chain !== this.chain) return;
    const at = this.segs.indexOf(h.seg);
    if (at <= 0) return;
    for (const s of this.segs.splice(0, at)) this.ds.space.letGo(s);
  }

  /** At open: reads back the chain `h` names (entries above h.covered), holding its segments until dropRecovered(). */
  async load(h: OplogHead): Promise<void> {
    this.durable = h;
    if (h.chain === 0n) return;
    let at: Spot = { seg: h.seg, off: h.off };
    const segSize = this.ds.sb.segmentSize;
    this.hold(at.seg);
    for (let seq = h.seq; ; seq++) {
      const block = await this.readBlock(h.chain, seq, at, segSize);
      if (!block) break;
      for (const e of block.entries) if (e.seq > h.covered) this.recovered.push(e);
      this.stats.recoveredBlocks++;
      at = { seg: block.nextSeg, off: block.nextOff };
      if (at.seg !== this.recoveredSegs[this.recoveredSegs.length - 1]) {
        if (this.recoveredSegs.length > 2 * LIMITS.OPLOG_MAX_SEGMENTS) throw new VdfsError('CORRUPT', 'the oplog chain is longer than any chain vdfs writes');
        this.hold(at.seg);
      }
    }
  }

  private hold(seg: number): void { this.ds.space.hold(seg); this.recoveredSegs.push(seg); }

  /** One block of a chain read back, or null where the chain ends. */
  private async readBlock(chain: bigint, seq: bigint, at: Spot, segSize: number) {
    if (at.off + RECORD_HEADER > segSize) return null;
    try {
      const len = peekRecordLength(await this.ds.layout.readSeg(at.seg, at.off, RECORD_HEADER));
      if (len > this.cap || at.off + len > segSize) return null;
      const bytes = await this.ds.layout.readSeg(at.seg, at.off, len);
      const plain = this.ds.codec.decode(bytes, { kind: RecordKind.Oplog, owner: chain, key: seq }, this.ds.codec.logSealed);
      const block = decodeOplogBlock(plain);
      const sane = block.nextOff < segSize && block.nextSeg < this.ds.space.segCount + 2 * LIMITS.OPLOG_MAX_SEGMENTS;
      return sane ? block : null;
    } catch (e) {
      if (END_OF_CHAIN.some((c) => isVdfsError(e, c))) return null;
      throw e;
    }
  }

  /** The recovered entries are replayed into the open txg: commits stop naming the old chain. */
  retire(): void { this.carried = false; }

  /** The recovered entries are replayed and committed: the old chain's segments go back to the pool. */
  dropRecovered(): void {
    for (const s of this.recoveredSegs) this.ds.space.letGo(s);
    this.recoveredSegs = [];
    this.recovered = [];
  }
}
