/**
 * A layout turns "bytes of segment S" and "bytes of the header region" into target I/O: `single`
 * here (one target, the v3 datastore file as it was), `mirror:N` and `ec:K+M` in spread.ts.
 * Every layout passes the same conformance suite (test/backing/conformance.test.ts).
 */
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { TargetState } from './health.js';
import { writeParts, type Target } from './target.js';

/** What /.control/status shows of a layout. */
export interface LayoutStatus {
  name: string;
  /** OK; DEGRADED (a target out, or segments not yet back to full redundancy); UNAVAILABLE (more out than it survives). */
  state: 'OK' | 'DEGRADED' | 'UNAVAILABLE';
  targets: { index: number; path: string; state: TargetState; errors: number; lastError?: string; retryInMs?: number }[];
  [more: string]: unknown;
}

/** Progress of a long layout operation (scrub: segments; rebuild: fragments). */
export type Progress = (done: number, total: number) => void;

/** Direct writes of segment bytes (Target.direct, at offsets in segments). */
export interface SegDirect {
  /** Offsets and lengths written are multiples of this (known once take() has given a buffer). */
  readonly align: number;
  take(): Buffer | null;
  give(b: Buffer): void;
  writeSeg(seg: number, off: number, b: Buffer, len: number): Promise<void>;
}

export interface Layout {
  readonly name: string;
  /** Every txg's appends start on a multiple of this (a multiple of TXG_ALIGN). */
  readonly appendAlign: number;
  /**
   * A sync may run while a txg is appending to another segment (the oplog syncs so). A spread
   * layout's sync writes out partial stripes, which an append under way then continues: there
   * the oplog waits for commits instead.
   */
  readonly syncDuringAppend?: boolean;
  readHeader(off: number, len: number): Promise<Buffer>;
  writeHeader(off: number, data: Buffer): Promise<void>;
  /**
   * `verify: false` lets a layout skip its own per-fragment hashes, for a caller that checks
   * what it reads (records carry checksums) and reads again with verify on when that fails.
   */
  readSeg(seg: number, off: number, len: number, verify?: boolean): Promise<Buffer>;
  /** The same into `buf` (buf.length bytes), where the layout can: reused read buffers (txn/read-loans.ts). */
  readonly readSegInto?: (seg: number, off: number, buf: Buffer, verify?: boolean) => Promise<void>;
  /** Appends: within a segment, offsets only grow until the segment is started again at 0. */
  writeSeg(seg: number, off: number, data: Buffer): Promise<void>;
  /** The same for the concatenation of `parts`, where the layout can write them without joining them first. */
  writeSegv?(seg: number, off: number, parts: Buffer[]): Promise<void>;
  /** Log chunks written bypassing the page cache, where the layout can (the appender stages records into take()'s buffers). */
  readonly direct?: SegDirect;
  sync(): Promise<void>;
  /** Writes segment bytes that are durable when it returns, syncing nothing else (where the layout can: Target.writeDurable). */
  writeSegDurable?(seg: number, off: number, data: Buffer): Promise<void>;
  /** Bytes stored now, and bytes the layout could still grow by. */
  space(): Promise<{ size: number; available: number }>;
  /** Most segments the layout can hold (a spread layout's table); none: as many as its space takes. */
  readonly maxSegments?: number;
  status(): LayoutStatus;
  /** Reads everything and repairs what it can (refused by layouts without redundancy). */
  scrub(progress?: Progress): Promise<void>;
  /** Re-creates on replaced (empty) targets every fragment that belonged there; returns how many. */
  rebuild(progress?: Progress): Promise<number>;
  close(): Promise<void>;
}

export class SingleLayout implements Layout {
  readonly name = 'single';
  readonly appendAlign = LIMITS.TXG_ALIGN;
  readonly syncDuringAppend = true;
  readonly direct?: SegDirect;
  constructor(readonly target: Target, private segmentSize: number, private path = '') {
    const d = target.direct;
    if (d) {
      this.direct = {
        get align() { return d.align; },
        take: () => d.take(), give: (b) => d.give(b),
        writeSeg: (seg, off, b, len) => d.write(this.segBase(seg) + off, b, len),
      };
    }
  }
  private segBase(seg: number): number { return LIMITS.HEADER_REGION + seg * this.segmentSize; }
  readHeader(off: number, len: number) { return this.target.read(off, len); }
  writeHeader(off: number, data: Buffer) { return this.target.write(off, data); }
  readSeg(seg: number, off: number, len: number) { return this.target.read(this.segBase(seg) + off, len); }
  get readSegInto(): ((seg: number, off: number, buf: Buffer) => Promise<void>) | undefined {
    const t = this.target;
    return t.readInto ? (seg, off, buf) => t.readInto!(this.segBase(seg) + off, buf) : undefined;
  }
  writeSeg(seg: number, off: number, data: Buffer) { return this.target.write(this.segBase(seg) + off, data); }
  writeSegv(seg: number, off: number, parts: Buffer[]) { return writeParts(this.target, this.segBase(seg) + off, parts); }
  sync() { return this.target.sync(); }
  get writeSegDurable(): ((seg: number, off: number, data: Buffer) => Promise<void>) | undefined {
    const t = this.target;
    return t.writeDurable ? (seg, off, data) => t.writeDurable!(this.segBase(seg) + off, data) : undefined;
  }
  async space() { return { size: await this.target.size(), available: await this.target.available() }; }
  status(): LayoutStatus {
    return { name: this.name, state: 'OK', targets: [{ index: 0, path: this.path, state: 'online', errors: 0 }] };
  }
  async scrub(): Promise<void> { throw new VdfsError('NOT_SUPPORTED', 'the single layout keeps one copy: nothing to repair from (vdfs verify checks it)'); }
  async rebuild(): Promise<number> { throw new VdfsError('NOT_SUPPORTED', 'the single layout has one target: nothing to rebuild'); }
  close() { return this.target.close(); }
}
