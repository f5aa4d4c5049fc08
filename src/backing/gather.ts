/**
 * A spread layout's large fast reads (every data role of many stripes, unverified: the records
 * carry their own checksums) made off the event loop by one worker thread (gather-worker.ts).
 * The event loop spent a third more time per GiB reading ec:4+2 than a single file: a read per
 * role and a copy per 4 KiB unit to put the roles' units back in segment order. Here it sends
 * one message and takes back the range's bytes, transferred.
 *
 * The worker reads the targets' descriptors, lent for the read (FileTarget.lend): a target does
 * not close while one is lent, so the number never names another file meanwhile. A unit not
 * there or a read that fails gives 'absent': the caller reads verified (which rebuilds and
 * reports) without trying the fast read again. A target without a descriptor (memory) or a
 * worker that died gives null, and the caller reads on the event loop as before.
 */
import { Worker } from 'node:worker_threads';
import type { Target } from './target.js';
import type { Placement } from './spread-place.js';
import type { GatherJob, GatherReply } from './gather-worker.js';

export interface GatherSource { target: Target; at: number; n: number }

export class Gatherer {
  private worker: Worker | null = null;
  private broken = false;
  private nextId = 1;
  private pending = new Map<number, (out: Buffer | 'absent' | null) => void>();
  /** The shared buffer each pending read is placed in (null: the worker sends its own). */
  private into = new Map<number, Buffer | null>();
  /** Reads made by the worker, and those it gave back to the event loop. */
  readonly counters = { gathered: 0, declined: 0 };

  /**
   * The range p describes, read from `sources` (one per role of p.roles); null when the worker
   * cannot make the read, 'absent' when it found a unit not there or a read failed (read it
   * yourself, verified). `into` (p.len bytes over a SharedArrayBuffer): the worker places the
   * range there, and it is what is returned; another buffer is not written.
   */
  async gather(sources: GatherSource[], gen: number, p: Placement, into?: Buffer): Promise<Buffer | 'absent' | null> {
    const leases = sources.map((s) => s.target.lend?.() ?? null);
    try {
      const w = this.broken ? null : this.start();
      if (!w || leases.some((x) => !x)) return null;
      const id = this.nextId++;
      const shared = into?.buffer instanceof SharedArrayBuffer ? { sab: into.buffer, at: into.byteOffset } : undefined;
      const job: GatherJob = { id, gen, p, into: shared, reads: sources.map((s, i) => ({ fd: leases[i]!.fd, at: s.at, n: s.n })) };
      const out = await new Promise<Buffer | 'absent' | null>((resolve) => {
        this.into.set(id, shared ? into! : null);
        this.pending.set(id, resolve);
        if (this.pending.size === 1) w.ref();
        try { w.postMessage(job); } catch { this.pending.delete(id); resolve(null); }
      });
      if (out instanceof Buffer) this.counters.gathered++; else if (out) this.counters.declined++;
      return out;
    } finally {
      for (const x of leases) x?.done();
    }
  }

  private start(): Worker | null {
    if (this.worker) return this.worker;
    try {
      const w = new Worker(new URL('./gather-worker.js', import.meta.url));
      w.on('message', (m: GatherReply) => {
        const resolve = this.pending.get(m.id);
        if (!resolve) return;
        const into = this.into.get(m.id);
        this.pending.delete(m.id);
        this.into.delete(m.id);
        if (!this.pending.size) w.unref();
        resolve(m.out === 'placed' && into ? into : m.out instanceof ArrayBuffer ? Buffer.from(m.out) : 'absent');
      });
      // Pending reads are settled (and their descriptors given back) only once the thread is
      // gone: after an error its reads may still be running.
      w.on('error', () => { this.broken = true; this.worker = null; void w.terminate(); });
      w.on('exit', () => { this.broken = true; this.worker = null; this.settleAll(); });
      w.unref(); // keeps the process alive only while it has reads (after the listeners: adding one refs it again)
      this.worker = w;
      return w;
    } catch {
      this.broken = true;
      return null;
    }
  }

  private settleAll(): void {
    for (const resolve of this.pending.values()) resolve(null);
    this.pending.clear();
    this.into.clear();
  }

  /** Stops the worker; its pending reads give null, after the thread has ended. */
  async close(): Promise<void> {
    const w = this.worker;
    this.broken = true;
    this.worker = null;
    if (w) await w.terminate();
    this.settleAll();
  }
}
