// The gather worker: a fast read of every role of many stripes, made by the worker from two file
// targets, gives the same bytes as placing the units on the event loop (the range starting and
// ending inside units, zeros past the stripes read); a unit whose trailer is not this
// generation's or past the end of the file give 'absent' (the caller reads verified), a target
// without a descriptor null (the caller reads for itself); a target does not close while its
// descriptor is lent.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTarget, MemTarget } from '../../src/backing/target.js';
import { Gatherer } from '../../src/backing/gather.js';
import { placeRoles, type Placement } from '../../src/backing/spread-place.js';
import { writeUnit } from '../../src/backing/spread-format.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const seed = seedFromEnv();
const u = 4096, us = u + 16, stripes = 40, gen = 7, seg = 3;

/** A role's chunk: `stripes` units of random data, trailers of generation g. */
function chunk(role: number, r: () => number, g = gen): Buffer {
  const b = Buffer.alloc(stripes * us);
  for (let s = 0; s < stripes; s++) {
    const data = Buffer.from(Array.from({ length: u }, () => Math.floor(r() * 256)));
    writeUnit(b, s * us, data, u, seg, s, role, g);
  }
  return b;
}

t.test('the worker places what the event loop would, and declines what it cannot read right', async (t) => {
  await initChecksum();
  const dir = await mkdtemp(join(tmpdir(), 'vdfs-gather-'));
  const g = new Gatherer();
  t.teardown(async () => { await g.close(); await rm(dir, { recursive: true, force: true }); });
  const r = rng(seed);
  const targets = [await FileTarget.open(join(dir, 'a'), true), await FileTarget.open(join(dir, 'b'), true)];
  const chunks = [chunk(0, r), chunk(1, r)];
  const base = 8192; // each chunk at an offset inside its file
  await targets[0].write(base, chunks[0]);
  await targets[1].write(base, chunks[1]);
  const SW = 2 * u, hi = stripes - 2; // stripes [0, hi) read, the range ends past them (zeros there)
  const off = 100, len = stripes * SW - 100 - 50;
  const p: Placement = { a: 0, hi, stripeData: SW, unitBytes: u, unitStored: us, off, len, roles: [0, 1] };
  const sources = targets.map((target) => ({ target, at: base, n: hi * us }));
  const want = Buffer.alloc(len);
  placeRoles(want, chunks.map((c) => c.subarray(0, hi * us)), p);
  const got = await g.gather(sources, gen, p);
  if (!(got instanceof Buffer)) { t.fail(`the worker gave ${got}`); return; }
  t.ok(got.equals(want), `the worker's bytes equal the event loop's placement (seed ${seed})`);
  t.ok(got.subarray(hi * SW - off).equals(Buffer.alloc(len - (hi * SW - off))), 'past the stripes read: zeros');
  const shared = Buffer.from(new SharedArrayBuffer(len + 64), 32, len).fill(7);
  t.equal(await g.gather(sources, gen, p, shared), shared, 'into a shared buffer: placed there, and that buffer is the answer');
  t.ok(shared.equals(want), 'with the same bytes');
  t.equal(await g.gather(sources, gen + 1, p), 'absent', 'units of another generation: not there (read verified)');
  t.equal(await g.gather([{ target: new MemTarget(), at: 0, n: hi * us }, sources[1]], gen, p), null, 'a target without a descriptor: not tried');
  t.equal(await g.gather(targets.map((target) => ({ target, at: base + 3 * us, n: hi * us })), gen, p), 'absent', 'units past the end of the file (zeros): not there');
  t.same(g.counters, { gathered: 2, declined: 2 }, 'counted: the read without a descriptor never reached the worker');

  const lease = targets[0].lend()!;
  let closed = false;
  const closing = targets[0].close().then(() => { closed = true; });
  await new Promise((res) => setTimeout(res, 20));
  t.notOk(closed, 'a target with a lent descriptor waits to close');
  t.equal(targets[0].lend(), null, 'and lends no more once closing');
  lease.done();
  lease.done(); // twice is once
  await closing;
  t.ok(closed, 'it closes once the descriptor is given back');
  await targets[1].close();
});
