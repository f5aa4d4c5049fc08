/**
 * Transaction-group scheduling: commits run one at a time, on a timer, when dirty bytes pass a
 * threshold, on fsync and on close. fsync callers that arrive while a commit is being written
 * wait for the next one, and all callers covered by one commit are released together. Writers
 * wait (back-pressure) while dirty bytes exceed DIRTY_LIMIT_BYTES.
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
  dirtyBytes(): number;
  /** Dirty bytes above which writers wait (DIRTY_LIMIT_BYTES unless the source needs smaller commits). */
  dirtyLimit?(): number;
}

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

export class TxgManager {
  private running: Promise<void> | null = null;
  private waiters: Waiter[] = [];
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

  /** Back-pressure: waits while dirty data is over the limit. */
  async admit(): Promise<void> {
    while (this.src.dirtyBytes() > (this.src.dirtyLimit?.() ?? LIMITS.DIRTY_LIMIT_BYTES) && !this.failure) {
      this.stats.backPressureWaits++;
      this.kick();
      await this.running;
    }
    if (this.src.dirtyBytes() > LIMITS.DIRTY_COMMIT_BYTES) this.kick();
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
      }
    } finally {
      this.running = null;
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
