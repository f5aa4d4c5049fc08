/**
 * The oplog as the filesystem uses it: every write and size change that reaches the open txg is
 * numbered (its apply sequence number) and held, and an fsync (or an O_SYNC write) appends what
 * is held to the oplog chain and syncs once (oplog/chain.ts) instead of committing the txg. The
 * txg still commits on its own schedule (timer, dirty bytes), with nobody waiting; the commit
 * records where the chain continues and which numbers it covers, and held entries it covers are
 * let go. Reads need no index of the log: the writes are in the open txg's blocks already.
 *
 * Only writes and size changes are logged. Any other change (namespace, attributes, snapshots,
 * restores, a write too large to log, too many bytes held) is a gap: it takes a number too, and
 * the log is not used again until a durable commit covers the gap, so a replay never applies
 * entries across a change it does not know. Replay at open applies, in order, the entries
 * above the newest commit's covered number, which is the state of that commit plus every
 * logged change after it.
 */
import type { SgElement } from '../txn/sg.js';
import type { TxgManager } from '../txn/txg.js';
import type { Datastore } from '../txn/datastore.js';
import type { OplogHead } from '../format/commit.js';
import { EntryKind, OplogEntry } from '../oplog/format.js';
import { LIMITS } from '../limits.js';

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

export class Journal {
  /** Number of the newest write, size change or gap. */
  private applied = 0n;
  /** Number of the newest gap: the log is usable once a durable commit covers it. */
  private gapAt = 0n;
  private durableCovered = 0n;
  private held: OplogEntry[] = [];
  private heldBytes = 0;
  private flushing: Promise<void> | null = null;
  private pauses = 0;
  private waiters: Waiter[] = [];
  readonly stats = { logSyncs: 0, entries: 0, commitSyncs: 0, gaps: 0, failures: 0, replayed: 0 };

  constructor(private ds: Datastore, private txg: TxgManager, readonly enabled: boolean) {
    this.applied = this.durableCovered = ds.oplog.durable.covered;
  }

  /** Writes just applied to the open txg, in order (called synchronously by the write path). */
  wrote(ino: bigint, elems: SgElement[], mtime: number): void {
    if (!this.enabled) return; // never usable: nothing to hold
    for (const e of elems) {
      if (e.data.length > Math.min(LIMITS.OPLOG_MAX_WRITE_BYTES, this.ds.oplog.maxData)) { this.gap(); continue; }
      this.hold({ kind: EntryKind.Write, ino, seq: ++this.applied, off: e.off, mtime, data: this.copyOf(e.data) });
    }
  }

  /**
   * A copy of a held write's data (the caller's buffer is reused once the write returns), cut
   * from the current slab: a fresh 4 KiB buffer per write cost an allocation each, and a slab
   * goes to the collector once no held entry uses it (entries go at the next append or commit).
   */
  private slab = Buffer.alloc(0);
  private slabAt = 0;
  private copyOf(d: Buffer): Buffer {
    if (d.length > LIMITS.OPLOG_SLAB_BYTES / 4) return Buffer.from(d);
    if (this.slabAt + d.length > this.slab.length) { this.slab = Buffer.allocUnsafeSlow(LIMITS.OPLOG_SLAB_BYTES); this.slabAt = 0; }
    const out = this.slab.subarray(this.slabAt, this.slabAt + d.length);
    out.set(d);
    this.slabAt += d.length;
    return out;
  }

  /** A size change just applied to the open txg (called synchronously by truncation). */
  sized(ino: bigint, size: number, mtime: number): void {
    if (!this.enabled) return;
    this.hold({ kind: EntryKind.Size, ino, seq: ++this.applied, off: size, mtime, data: Buffer.alloc(0) });
  }

  /** A change the log does not carry: the log waits for a durable commit that covers it. */
  gap(): void {
    this.gapAt = ++this.applied;
    this.held = [];
    this.heldBytes = 0;
    this.stats.gaps++;
  }

  private hold(e: OplogEntry): void {
    if (this.heldBytes + e.data.length > LIMITS.OPLOG_PENDING_BYTES) return this.gap();
    this.held.push(e);
    this.heldBytes += e.data.length;
  }

  /** Where the log continues after a commit frozen now (called synchronously with the freeze). */
  head(): OplogHead { return this.ds.oplog.head(this.applied); }

  /** A commit that recorded `h` is durable: entries it covers are let go. */
  committed(h: OplogHead | undefined): void {
    if (!h || h.chain === 0n) return;
    this.durableCovered = h.covered;
    if (this.held.length && this.held[0].seq <= h.covered) {
      const keep = this.held.filter((e) => e.seq > h.covered);
      this.heldBytes = keep.reduce((n, e) => n + e.data.length, 0);
      this.held = keep;
    }
  }

  /** The numbers of a replay are above everything the chain held. */
  replayed(lastSeq: bigint): void { if (lastSeq > this.applied) this.applied = lastSeq; }

  /**
   * Runs fn with the log out of use (syncs commit instead), once an append under way is done;
   * afterwards a gap, so the first sync after fn commits.
   */
  async paused<T>(fn: () => Promise<T>): Promise<T> {
    this.pauses++;
    try {
      await this.flushing;
      return await fn();
    } finally {
      this.pauses--;
      this.gap();
    }
  }

  private usable(): boolean {
    const chain = this.ds.oplog;
    return this.enabled && !this.pauses && chain.started && this.durableCovered >= this.gapAt && chain.segments < LIMITS.OPLOG_MAX_SEGMENTS;
  }

  /** Resolves when every write applied before the call is durable: through the log, or a commit where it cannot. */
  sync(): Promise<void> {
    if (!this.usable()) { this.stats.commitSyncs++; return this.txg.sync(); }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.flushing ??= this.loop();
    });
  }

  /** One append per round; callers that come while one is written wait for the next (group commit). */
  private async loop(): Promise<void> {
    try {
      while (this.waiters.length) {
        const round = this.waiters;
        this.waiters = [];
        try {
          await this.flush();
          for (const w of round) w.resolve();
        } catch (e) {
          for (const w of round) w.reject(e);
        }
      }
    } finally {
      this.flushing = null;
    }
  }

  private async flush(): Promise<void> {
    if (!this.usable()) { this.stats.commitSyncs++; return this.txg.sync(); }
    const batch = this.held;
    this.held = [];
    this.heldBytes = 0;
    if (!batch.length) return;
    const append = () => this.ds.oplog.append(batch);
    try {
      // A spread layout's sync must not cut into a commit's appends (Layout.syncDuringAppend).
      await (this.ds.layout.syncDuringAppend ? append() : this.txg.exclusive(append));
      this.stats.logSyncs++;
      this.stats.entries += batch.length;
    } catch {
      // The log could not be written: these writes are still in the txg, which makes them durable.
      this.stats.failures++;
      this.gap();
      this.stats.commitSyncs++;
      await this.txg.sync();
    }
  }

  status(): object {
    const c = this.ds.oplog;
    return { enabled: this.enabled, usable: this.usable(), heldEntries: this.held.length, heldBytes: this.heldBytes, segments: c.segments, ...c.stats, ...this.stats };
  }
}
