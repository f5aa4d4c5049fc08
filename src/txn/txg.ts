/**
 * Transaction-group scheduling: commits run one at a time, on a timer, when dirty bytes pass a
 * threshold, on fsync and on close. fsync callers that arrive while a commit is being written
 * wait for the next one, and all callers covered by one commit are released together. Writers
 * wait (back-pressure) while dirty bytes exceed DIRTY_LIMIT_BYTES, or the estimated log bytes of
 * the open group the source's limit (the cleaner's pacing).
 */
import { LIMITS } from '../limits.js';
import { Mutex } from './mutex.js';
import type { Datastore } from './datastore.js';
import type { Frozen } from './commit.js';

export interface TxgSource {
  /** Captures the open transaction group (called between commits). */
  freeze(): Promise<Frozen>;
  /** Called after a commit is durable. */
  committed(f: Frozen): void;
  hasChanges(): boolean;
  /** Bytes of dirty data held in memory (writers wait above DIRTY_LIMIT_BYTES). */
  dirtyBytes(): number;
  /** Estimated bytes the open group's commit will write to the log (fs/log-bytes.ts). */
  logBytes?(): number;
  /** The most logBytes writers may reach before they wait (Infinity: no such bound; the cleaner's pacing). */
  logLimit?(): number;
}

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

export class TxgManager {
  private running: Promise<void> | null = null;
  private waiters: Waiter[] = [];
  /** Writers held back by admit(), woken at the end of each commit. */
  private endWaiters: (() => void)[] = [];
  private wanted = false;
  private timer: NodeJS.Timeout | null = null;
  private latencies: number[] = [];
  /** Held by each commit, and by work that must see no commit happen (verification). */
  private gate = new Mutex();
  failure: unknown = null;
  stats = { commits: 0, syncRequests: 0, backPressureWaits: 0, logicalTxns: 0, commitsWithWrites: 0 };

  constructor(private ds: Datastore, private src: TxgSource, private onError: (e: unknown) => void) {}

  start(): void {
    this.timer = setInterval(() => { if (this.src.hasChanges()) this.kick(); }, LIMITS.COMMIT_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sync();
  }

  /** Starts a commit soon unless one is already due. */
  kick(): void {
    this.wanted = true;
    if (!this.running) this.running = this.loop();
  }

  /** Resolves when everything changed before the call is durable. */
  sync(): Promise<void> {
    this.stats.syncRequests++;
    if (this.failure) return Promise.reject(this.failure);
    if (!this.running && !this.src.hasChanges()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  /**
   * Back-pressure: waits while the open group is over a limit — its dirty bytes in memory, or the
   * log bytes the source paces on — one commit at a time (a writer goes on as soon as a commit
   * has taken what was open, not when commits stop). A commit starts early once the open group
   * passes DIRTY_COMMIT_BYTES in memory. (Starting one at half the log limit too made commits
   * smaller and more of them, each with the cleaner's fixed cost: slower on an aged vdisk.)
   */
  async admit(): Promise<void> {
    while (this.overLimit() && !this.failure) {
      this.stats.backPressureWaits++;
      this.kick();
      await this.commitEnded();
    }
    if (this.src.dirtyBytes() > LIMITS.DIRTY_COMMIT_BYTES) this.kick();
  }

  private logBytes(): number { return this.src.logBytes?.() ?? 0; }
  private logLimit(): number { return this.src.logLimit?.() ?? Infinity; }
  private overLimit(): boolean { return this.src.dirtyBytes() > LIMITS.DIRTY_LIMIT_BYTES || this.logBytes() > this.logLimit(); }

  /** Resolves when the commit under way (or the next one) ends, or the loop stops. */
  private commitEnded(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolve) => this.endWaiters.push(resolve));
  }

  private endCommit(): void {
    const ws = this.endWaiters;
    this.endWaiters = [];
    for (const w of ws) w();
  }

  private async loop(): Promise<void> {
    try {
      while ((this.wanted || this.waiters.length) && !this.failure) {
        this.wanted = false;
        const covered = this.waiters;
        this.waiters = [];
        try {
          await this.gate.run(() => this.commitOnce());
          for (const w of covered) w.resolve();
        } catch (e) {
          this.failure = e;
          for (const w of [...covered, ...this.waiters]) w.reject(e);
          this.waiters = [];
          this.onError(e);
        }
        this.endCommit();
      }
    } finally {
      this.running = null;
      this.endCommit();
    }
  }

  private async commitOnce(): Promise<void> {
    const t0 = performance.now();
    const frozen = await this.src.freeze();
    await this.ds.commit(frozen);
    this.src.committed(frozen);
    this.stats.commits++;
    this.stats.logicalTxns += frozen.logical ?? 0;
    if (frozen.logical) this.stats.commitsWithWrites++;
    this.recordLatency(performance.now() - t0);
  }

  /** Runs fn while no commit runs (commits wait; writers keep going until back-pressure). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> { return this.gate.run(fn); }

  private recordLatency(ms: number): void {
    this.latencies.push(ms);
    if (this.latencies.length > LIMITS.LATENCY_SAMPLES) this.latencies.shift();
  }

  latency(): { p50: number; p99: number } {
    const s = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : 0);
    return { p50: at(0.5), p99: at(0.99) };
  }
}
