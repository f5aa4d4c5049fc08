// Scattered fast reads of a spread layout: every role of many stripes read from two file
// targets straight into place gives the same bytes as placing the units from role buffers (the
// range starting and ending inside units, zeros past the stripes read); a unit whose trailer is
// not this generation's, or past the end of the file, gives 'absent' (the caller reads
// verified). A file target's vectored read fills more buffers than IOV_MAX and reads zeros past
// the end; its read streams read the file that was opened, even once another is renamed over
// its path.
import t from 'tap';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTarget } from '../../src/backing/target.js';
import { scatterRead } from '../../src/backing/spread-scatter.js';
import { placeRoles, type Placement } from '../../src/backing/spread-place.js';
import { writeUnit } from '../../src/backing/spread-format.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { LIMITS } from '../../src/limits.js';
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

t.test('a scattered read places what role buffers would, and declines what it cannot read right', async (t) => {
  await initChecksum();
  const dir = await mkdtemp(join(tmpdir(), 'vdfs-scatter-'));
  const targets = [await FileTarget.open(join(dir, 'a'), true), await FileTarget.open(join(dir, 'b'), true)];
  t.teardown(async () => { for (const x of targets) await x.close(); await rm(dir, { recursive: true, force: true }); });
  const r = rng(seed);
  const chunks = [chunk(0, r), chunk(1, r)];
  const base = 8192; // each chunk at an offset inside its file
  await targets[0].write(base, chunks[0]);
  await targets[1].write(base, chunks[1]);
  const SW = 2 * u, hi = stripes - 2; // stripes [0, hi) read, the range ends past them (zeros there)
  for (const [off, len] of [[100, stripes * SW - 150], [0, hi * SW], [u + 7, 3 * SW]]) {
    const p: Placement = { a: Math.floor(off / SW), hi: Math.min(hi, Math.ceil((off + len) / SW)), stripeData: SW, unitBytes: u, unitStored: us, off, len, roles: [0, 1] };
    const sources = targets.map((target) => ({ target, at: base + p.a * us, n: (p.hi - p.a) * us }));
    const want = Buffer.alloc(len);
    placeRoles(want, chunks.map((c) => c.subarray(p.a * us, p.hi * us)), p);
    const out = Buffer.alloc(len, 0xee);
    const got = await scatterRead(sources, gen, p, out);
    t.equal(got, out, `[${off}, +${len}): read into the buffer given`);
    t.ok(out.equals(want), `and the bytes equal the placed units' (seed ${seed})`);
  }
  const p: Placement = { a: 0, hi, stripeData: SW, unitBytes: u, unitStored: us, off: 0, len: hi * SW, roles: [0, 1] };
  const sources = targets.map((target) => ({ target, at: base, n: hi * us }));
  t.equal(await scatterRead(sources, gen + 1, p, Buffer.alloc(p.len)), 'absent', 'units of another generation: not there (read verified)');
  t.equal(await scatterRead(targets.map((target) => ({ target, at: base + 3 * us, n: hi * us })), gen, p, Buffer.alloc(p.len)), 'absent',
    'units past the end of the file (zeros): not there');
});

t.test('vectored reads: past IOV_MAX buffers, zeros past the end, streams read the file opened', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vdfs-scatter-'));
  const path = join(dir, 'f');
  const bytes = Buffer.from(Array.from({ length: 3 * LIMITS.IOV_MAX * 8 }, (_, i) => (i * 7) & 255));
  await writeFile(path, bytes);
  const target = await FileTarget.open(path, false);
  t.teardown(async () => { await target.close(); await rm(dir, { recursive: true, force: true }); });
  const bufs = Array.from({ length: 2 * LIMITS.IOV_MAX + 5 }, (_, i) => Buffer.alloc(1 + (i % 13)));
  const total = bufs.reduce((n, b) => n + b.length, 0);
  await target.readScatter(10, bufs);
  t.ok(Buffer.concat(bufs).equals(bytes.subarray(10, 10 + total)), 'more buffers than one readv takes are filled in order');
  const tail = [Buffer.alloc(5, 1), Buffer.alloc(20, 1), Buffer.alloc(3, 1)];
  await target.readScatter(bytes.length - 8, tail, 3);
  t.ok(Buffer.concat(tail).equals(Buffer.concat([bytes.subarray(bytes.length - 8), Buffer.alloc(20)])), 'past the end: zeros');
  await writeFile(join(dir, 'other'), Buffer.alloc(bytes.length, 9));
  await rename(join(dir, 'other'), path);
  const one = [Buffer.alloc(64)];
  await target.readScatter(0, one, 5);
  t.ok(one[0].equals(bytes.subarray(0, 64)), 'a stream opened after the path was replaced reads the file that was opened');
});
