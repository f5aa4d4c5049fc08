/**
 * The gather worker (gather.ts): reads the stored units of a spread layout's fast read from the
 * target files' descriptors (lent by their FileTargets for the read), checks their trailers and
 * places their data into a buffer of the read's range, which it transfers back. The event loop
 * then makes one message each way instead of one read per role and a copy per 4 KiB unit.
 *
 * Message: { id, reads: [{ fd, at, n }] (one per role, in p.roles order), gen, p: Placement }.
 * Reply: { id, out } (an ArrayBuffer of p.len bytes: the units' data in place, zeros past the
 * stripes read; 'placed' when the job gave `into`, a SharedArrayBuffer and offset of the
 * event loop's to place them in), or { id, out: null } when a unit is not there as it should be or a read fails
 * (the event loop then reads for itself, and reports).
 */
import { read } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { BufferPool } from './buffer-pool.js';
import { placeRoles, unitsPresent, type Placement } from './spread-place.js';

export interface GatherRead { fd: number; at: number; n: number }
export interface GatherJob { id: number; reads: GatherRead[]; gen: number; p: Placement; into?: { sab: SharedArrayBuffer; at: number } }
export interface GatherReply { id: number; out: ArrayBuffer | 'placed' | null }

/** Role buffers, reused from one job to the next within the spread pool's bounds (buffer-pool.ts). */
const pool = new BufferPool();

/** Reads n bytes at `at` of fd into a pooled buffer (its first n bytes); bytes past the end read as zeros. */
function readAll({ fd, at, n }: GatherRead, held: Buffer[]): Promise<Buffer> {
  const whole = pool.take(n);
  held.push(whole);
  const buf = whole.subarray(0, n);
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= n) { resolve(buf); return; }
      read(fd, buf, done, n - done, at + done, (e, got) => {
        if (e) { reject(e); return; }
        if (got === 0) { buf.fill(0, done); resolve(buf); return; }
        step(done + got);
      });
    };
    step(0);
  });
}

async function run(job: GatherJob): Promise<ArrayBuffer | 'placed' | null> {
  const { p } = job;
  const held: Buffer[] = [];
  const got = await Promise.allSettled(job.reads.map((r) => readAll(r, held)));
  const bufs = got.flatMap((g) => (g.status === 'fulfilled' ? [g.value] : []));
  try {
    if (bufs.length < got.length || !bufs.every((b) => unitsPresent(b, p.hi - p.a, p.unitBytes, p.unitStored, job.gen))) return null;
    const out = job.into ? Buffer.from(job.into.sab, job.into.at, p.len) : Buffer.allocUnsafeSlow(p.len);
    out.fill(0, Math.max(0, Math.min(p.len, p.hi * p.stripeData - p.off)));
    placeRoles(out, bufs, p);
    return job.into ? 'placed' : out.buffer as ArrayBuffer;
  } finally {
    for (const b of held) pool.give(b); // every read has settled: nothing writes into them any more
  }
}

parentPort!.on('message', (job: GatherJob) => {
  run(job).then((out) => {
    const reply: GatherReply = { id: job.id, out };
    parentPort!.postMessage(reply, out instanceof ArrayBuffer ? [out] : []);
  }, () => parentPort!.postMessage({ id: job.id, out: null } satisfies GatherReply));
});
