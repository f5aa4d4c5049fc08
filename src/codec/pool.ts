/**
 * Worker threads for the block pipeline: a transaction group's data blocks are cut into jobs
 * of CODEC_JOB_BYTES, each job goes to the least busy worker, and the event loop stays free to
 * answer FUSE requests while they compress and seal. Nonces are reserved on the main thread
 * (one run per job), so workers never share a counter.
 *
 * Message to a worker: { id, metas: [kind, owner, key, birth][], data (the blocks back to
 * back, transferred), lens, seal (per record), compress, level, uuid, slot }. Reply: { id, out
 * (all encoded records back to back, transferred), lens, checksums } or { id, error }. A worker
 * that dies is replaced (up to CODEC_WORKER_RESPAWNS times); with none left, the codec
 * encodes inline.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { LIMITS } from '../limits.js';
import { VdfsError } from '../errors.js';
import type { EncodedRecord } from './record.js';
import type { DataItem, EncodeOpts } from './block-codec.js';

export interface JobRequest {
  id: number; metas: [number, bigint, bigint, bigint][]; data: Uint8Array; lens: number[]; seal: boolean[];
  compress: number; level: number; uuid: Uint8Array; slot: { epoch: Uint8Array; key: Uint8Array; counter: bigint } | null;
}
export type JobReply = { id: number; out: Uint8Array; lens: number[]; checksums: bigint[] } | { id: number; error: string };

interface Pending { resolve(r: EncodedRecord[]): void; reject(e: Error): void }

/** Workers by default: one per core, at most CODEC_WORKERS_MAX. */
export const defaultWorkers = (): number => Math.min(LIMITS.CODEC_WORKERS_MAX, availableParallelism());

export class CodecPool {
  private workers: { w: Worker; pending: Map<number, Pending> }[] = [];
  private nextId = 1;
  private respawns = 0;
  private closing = false;

  constructor(n: number) {
    for (let i = 0; i < n; i++) this.spawn();
  }

  private spawn(): void {
    const w = new Worker(new URL('./worker.js', import.meta.url));
    const slot = { w, pending: new Map<number, Pending>() };
    w.on('message', (m: JobReply) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (!slot.pending.size) w.unref();
      if ('error' in m) { p.reject(new VdfsError('IO', `codec worker: ${m.error}`)); return; }
      const out = Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength);
      let at = 0;
      p.resolve(m.lens.map((len, i) => { const bytes = out.subarray(at, at + len); at += len; return { bytes, checksum: m.checksums[i] }; }));
    });
    w.on('error', (e) => this.fail(slot, e));
    w.on('exit', () => this.fail(slot, new Error('codec worker exited')));
    w.unref(); // keeps the process alive only while it has jobs (after the listeners: adding one refs it again)
    this.workers.push(slot);
  }

  private fail(slot: { pending: Map<number, Pending> }, e: Error): void {
    if (!this.workers.includes(slot as (typeof this.workers)[number])) return; // 'error' then 'exit': once
    for (const p of slot.pending.values()) p.reject(new VdfsError('IO', `codec worker: ${e.message}`));
    slot.pending.clear();
    this.workers = this.workers.filter((x) => x !== slot);
    if (!this.closing && this.respawns < LIMITS.CODEC_WORKER_RESPAWNS) { this.respawns++; this.spawn(); }
  }

  /** Whether a worker is running (else the caller encodes inline). */
  get alive(): boolean { return this.workers.length > 0; }

  /**
   * Encodes items in order; `opts(job)` gives a job's options (reserving its nonces), `sealed(x)`
   * whether an item is sealed. Jobs are handed out one event-loop turn apart (each copies its blocks).
   */
  async encode(items: DataItem[], opts: (job: DataItem[]) => EncodeOpts, sealed: (x: DataItem) => boolean): Promise<EncodedRecord[]> {
    const parts: Promise<EncodedRecord[]>[] = [];
    for (const job of jobsOf(items)) {
      const part = this.run(job, opts(job), job.map(sealed));
      part.catch(() => {}); // handled by Promise.all below; a rejection while jobs are still handed out must not go unhandled
      parts.push(part);
      await new Promise((r) => setImmediate(r));
    }
    return (await Promise.all(parts)).flat();
  }

  private run(job: DataItem[], o: EncodeOpts, seal: boolean[]): Promise<EncodedRecord[]> {
    const target = this.workers.reduce<(typeof this.workers)[number] | null>((a, b) => (!a || b.pending.size < a.pending.size ? b : a), null);
    if (!target) return Promise.reject(new VdfsError('IO', 'no codec worker is running'));
    const lens = job.map((x) => x.data.length);
    const data = new Uint8Array(lens.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const x of job) { data.set(x.data, at); at += x.data.length; }
    const id = this.nextId++;
    const req: JobRequest = {
      // Copies, not views: a view's whole backing store (perhaps Node's shared pool) would be cloned.
      id, data, lens, seal, compress: o.compress, level: o.level, uuid: new Uint8Array(o.uuid),
      metas: job.map((x) => [x.meta.kind, x.meta.owner, x.meta.key, x.meta.birth]),
      slot: o.slot && { epoch: new Uint8Array(o.slot.epoch), key: new Uint8Array(o.slot.key), counter: o.slot.counter },
    };
    return new Promise((resolve, reject) => {
      if (!target.pending.size) target.w.ref();
      target.pending.set(id, { resolve, reject });
      target.w.postMessage(req, [data.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((x) => x.w.terminate()));
  }
}

/** Items split into runs of at most CODEC_JOB_BYTES (one worker job, or one inline turn). */
export function jobsOf(items: DataItem[]): DataItem[][] {
  const jobs: DataItem[][] = [];
  let cur: DataItem[] = [], bytes = 0;
  for (const x of items) {
    if (cur.length && bytes + x.data.length > LIMITS.CODEC_JOB_BYTES) { jobs.push(cur); cur = []; bytes = 0; }
    cur.push(x); bytes += x.data.length;
  }
  if (cur.length) jobs.push(cur);
  return jobs;
}
