/**
 * Appends one transaction group's records to the log. Each txg starts on the layout's appendAlign (a TXG_ALIGN multiple)
 * (so a torn write of this txg cannot touch the previous one's bytes); records never span
 * segments; each extent (the run of a txg inside one segment) ends with a summary record that
 * lists its records, so a segment can be read without the trees. Every extent is hashed as it
 * is written; the commit record carries the hashes.
 *
 * Where the commit writes directly (it passes the layout's direct writer: backing/direct.ts,
 * log/write-mode.ts), an extent's records are copied into
 * aligned staging buffers of WRITE_CHUNK_BYTES and each full one is written as it fills; the
 * last is written padded with zeros to the alignment. The padding lies past the extent's end and
 * before the next txg's start (a TXG_ALIGN multiple), in bytes nothing names. Should no staging
 * buffer be had, the rest of the extent is written buffered, from its records (a full chunk
 * ends on an aligned offset, so no page is written both ways).
 *
 * Summary payload (format v1): u32 count, then per record: u32 off, u32 len, u8 kind,
 * u64 owner, u64 key (25 bytes each), then the trailer u32 'VDSE' — so an extent never ends in
 * zero bytes, and a log cut short anywhere inside it no longer hashes right.
 */
import { CODEC_SEALED, encodeRecord, EncodedRecord, RECORD_HEADER, recordCodec, RecordKind, RecordMeta } from '../codec/record.js';
import { StreamHash, streamXxh64 } from '../codec/checksum.js';
import type { LogExtent } from '../format/commit.js';
import { BlockPtr, ExtentState } from '../format/ptr.js';
import type { Layout, SegDirect } from '../backing/layout.js';
import { invariant, LIMITS } from '../limits.js';
import { VdfsError } from '../errors.js';
import type { SegmentSpace } from './space.js';
import { putU64LE } from '../codec/u64.js';

const SUMMARY_ENTRY = 25;
const SUMMARY_TRAILER = 0x45534456; // 'VDSE'
/** A summary payload's fixed bytes: the u32 count and the u32 trailer. */
const SUMMARY_FIXED = 8;
const summaryBytes = (n: number) => RECORD_HEADER + SUMMARY_FIXED + n * SUMMARY_ENTRY;
/** Staging buffers the pool keeps: direct writes in flight beyond this make a commit wait. */
const DIRECT_POOL_CHUNKS = LIMITS.DIRECT_POOL_BYTES / LIMITS.WRITE_CHUNK_BYTES;

interface OpenExtent {
  seg: number; start: number; end: number; hash: StreamHash;
  entries: { off: number; len: number; kind: RecordKind; owner: bigint; key: bigint }[];
  pending: Buffer[]; pendingAt: number; pendingBytes: number;
  /** Direct: the staging buffer being filled (its first `staged` bytes go at pendingAt), or null. */
  stage: Buffer | null; staged: number;
}

export class Appender {
  readonly extents: LogExtent[] = [];
  private cur: OpenExtent | null = null;
  private writes: Promise<void>[] = [];
  /** Direct writes not yet done (each holds a staging buffer). */
  private inFlight = new Set<Promise<void>>();
  bytesWritten = 0;
  /** Of them, bytes written directly. */
  directBytes = 0;

  /** `direct`: where this txg's chunks are written directly (the layout's, when the commit writes so); null: all buffered. */
  constructor(private layout: Layout, private space: SegmentSpace, private txg: bigint, public seg: number, public off: number,
    private readonly direct: SegDirect | null) {}

  /** Appends an encoded record (block-codec.ts); `meta` marks segment-usage-tree nodes (see SegmentSpace). */
  append(m: RecordMeta, { bytes, checksum }: EncodedRecord, meta = false): BlockPtr {
    const ext = this.room(bytes.length);
    const off = ext.end;
    ext.entries.push({ off, len: bytes.length, kind: m.kind, owner: m.owner, key: m.key });
    this.push(ext, bytes);
    this.space.add(ext.seg, bytes.length, meta);
    return { state: ExtentState.Present, seg: ext.seg, off, len: bytes.length, checksum, birth: m.birth, sealed: (recordCodec(bytes) & CODEC_SEALED) !== 0 };
  }

  private room(len: number): OpenExtent {
    const segSize = this.space.segmentSize;
    if (summaryBytes(1) + len > segSize) throw new VdfsError('TOO_BIG', 'record larger than a segment');
    let ext = this.cur;
    if (ext && ext.end + len + summaryBytes(ext.entries.length + 1) <= segSize) return ext;
    if (ext) this.closeExtent(ext);
    let start = Math.ceil(this.off / this.layout.appendAlign) * this.layout.appendAlign;
    if (!ext && start + len + summaryBytes(1) <= segSize) {
      ext = this.openExtent(this.seg, start);
    } else {
      this.seg = this.space.take();
      ext = this.openExtent(this.seg, 0);
    }
    return ext;
  }

  private openExtent(seg: number, start: number): OpenExtent {
    invariant(this.extents.length < LIMITS.COMMIT_MAX_EXTENTS, 'txg within COMMIT_MAX_EXTENTS');
    this.cur = { seg, start, end: start, hash: streamXxh64(), entries: [], pending: [], pendingAt: start, pendingBytes: 0, stage: null, staged: 0 };
    this.stageNext(this.cur, this.direct);
    return this.cur;
  }

  /** Takes the extent's next staging buffer, if the layout has one for an offset it can write directly. */
  private stageNext(ext: OpenExtent, d: SegDirect | null): void {
    if (!d || ext.pendingBytes) return; // once buffered, the extent stays so
    const b = d.take();
    if (!b) return;
    if (ext.pendingAt % d.align || this.space.segmentSize % d.align) { d.give(b); return; }
    ext.stage = b;
  }

  private push(ext: OpenExtent, bytes: Buffer): void {
    ext.end += bytes.length;
    ext.hash.update(bytes);
    let from = 0;
    while (ext.stage && from < bytes.length) {
      const n = Math.min(bytes.length - from, ext.stage.length - ext.staged);
      bytes.copy(ext.stage, ext.staged, from, from + n);
      ext.staged += n; from += n;
      if (ext.staged === ext.stage.length) { this.writeStage(ext); this.stageNext(ext, this.direct); }
    }
    if (from === bytes.length) return;
    if (from) bytes = bytes.subarray(from);
    ext.pending.push(bytes);
    ext.pendingBytes += bytes.length;
    if (ext.pendingBytes >= LIMITS.WRITE_CHUNK_BYTES) this.flush(ext);
  }

  /** Writes the staging buffer: the extent's last one padded with zeros to the alignment. */
  private writeStage(ext: OpenExtent): void {
    const d = this.direct!, b = ext.stage!;
    ext.stage = null;
    if (!ext.staged) { d.give(b); return; }
    const len = Math.ceil(ext.staged / d.align) * d.align;
    invariant(ext.pendingAt + len <= this.space.segmentSize, 'a padded direct write stays inside its segment');
    b.fill(0, ext.staged, len);
    const w = d.writeSeg(ext.seg, ext.pendingAt, b, len);
    this.track(w, ext.staged);
    this.directBytes += ext.staged;
    this.inFlight.add(w);
    void w.then(() => this.inFlight.delete(w), () => this.inFlight.delete(w));
    ext.pendingAt += ext.staged;
    ext.staged = 0;
  }

  private track(w: Promise<void>, bytes: number): void {
    w.catch(() => undefined); // seen by finish(); not an unhandled rejection before it
    this.writes.push(w);
    this.bytesWritten += bytes;
  }

  private flush(ext: OpenExtent): void {
    if (ext.stage) return this.writeStage(ext);
    if (!ext.pendingBytes) return;
    // one vectored write of the records where the layout takes one (no joined copy of every byte)
    const w = this.layout.writeSegv ? this.layout.writeSegv(ext.seg, ext.pendingAt, ext.pending)
      : this.layout.writeSeg(ext.seg, ext.pendingAt, Buffer.concat(ext.pending, ext.pendingBytes));
    this.track(w, ext.pendingBytes);
    ext.pendingAt += ext.pendingBytes;
    ext.pending = []; ext.pendingBytes = 0;
  }

  private closeExtent(ext: OpenExtent): void {
    const p = Buffer.alloc(SUMMARY_FIXED + ext.entries.length * SUMMARY_ENTRY);
    p.writeUInt32LE(SUMMARY_TRAILER, p.length - 4);
    p.writeUInt32LE(ext.entries.length, 0);
    ext.entries.forEach((e, i) => {
      const at = 4 + i * SUMMARY_ENTRY;
      p.writeUInt32LE(e.off, at); p.writeUInt32LE(e.len, at + 4); p[at + 8] = e.kind;
      putU64LE(p, at + 9, e.owner); putU64LE(p, at + 17, e.key);
    });
    const { bytes } = encodeRecord({ kind: RecordKind.Summary, owner: BigInt(ext.seg), key: 0n, birth: this.txg }, p);
    this.push(ext, bytes);
    this.flush(ext);
    this.extents.push({ seg: ext.seg, start: ext.start, end: ext.end, hash: ext.hash.digest() });
    this.off = ext.end;
    this.cur = null;
  }

  /**
   * Waits while the direct writes in flight hold as many staging buffers as the pool keeps
   * (DIRECT_POOL_BYTES): a commit appends faster than the disk takes it, and each buffer more
   * would be a fresh allocation (and alignment probe). Callers append between waits.
   */
  async ready(): Promise<void> {
    while (this.full) await Promise.race(this.inFlight).catch(() => undefined);
  }

  /** True while ready() would wait (never without direct writes): the commit checks it per block without an await. */
  get full(): boolean { return this.inFlight.size >= DIRECT_POOL_CHUNKS; }

  /** Closes the last extent and waits for every write; returns where the next txg continues. */
  async finish(): Promise<{ seg: number; off: number }> {
    if (this.cur) this.closeExtent(this.cur);
    await Promise.all(this.writes);
    this.writes = [];
    return { seg: this.seg, off: this.off };
  }
}
