// Spread layouts under faults: flipped bytes, too many bad fragments, a target lost while
// writing (degraded copies, rebuild onto an empty target, healing, scrub), a target back with its
// old bytes, and more targets lost than the layout survives.
import t from 'tap';
import { layoutDatastore, makeLayout, writeNew, type MemSource } from '../helpers/layouts.js';
import { MiB, readWhole, rng, seedFromEnv } from '../helpers/mem.js';
import { SpreadLayout } from '../../src/backing/spread.js';
import { Mode } from '../../src/backing/spread-format.js';
import { Datastore } from '../../src/txn/datastore.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { decodePtr, ExtentState } from '../../src/format/ptr.js';
import { isVdfsError } from '../../src/errors.js';

const SEG = 256 * 1024;
const seed = seedFromEnv();
t.comment(`seed ${seed}`);

function noise(r: () => number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Flips one byte of the stored unit (seg, stripe, role) at byte `at` of its data. */
function flip(l: SpreadLayout, src: MemSource, seg: number, stripe: number, role: number, at = 100, copy = 0): void {
  const ref = l.table.get(seg)!.refs.filter((r) => r.role === role)[copy];
  const bytes = src.targets.get(l.slots[ref.target].path)!.bytes;
  bytes[l.g.chunkAt(ref.chunk, stripe) + at] ^= 0xff;
}

async function spread(spec: string, n: number, seg = SEG): Promise<{ l: SpreadLayout; src: MemSource }> {
  const m = await makeLayout(spec, n, seg);
  return { l: m.layout as SpreadLayout, src: m.source };
}

for (const [spec, n] of [['ec:4+2', 3], ['mirror:2', 2], ['ec:2+1', 3]] as [string, number][]) {
  t.test(`${spec}: a flipped byte in one fragment reads right and is repaired`, async (t) => {
    const { l, src } = await spread(spec, n);
    const data = noise(rng(seed), SEG);
    await l.writeSeg(0, 0, data); await l.sync();
    flip(l, src, 0, 2, 0);
    const before = l.io.counters.repaired;
    t.same(await l.readSeg(0, 0, SEG), data, 'the read returns the data written');
    await l.io.drain();
    t.equal(l.io.counters.repaired, before + 1, 'the repair counter rose by one');
    await l.scrub();
    t.equal((l.status().scrub as { bad: number }).bad, 0, 'scrub finds the repaired unit good');
    await l.close();
  });
}

t.test('ec:4+2: two flipped parity units (roles 4 and 5, stripes 3 and 1), which reads never fetch, are found and fixed by scrub', async (t) => {
  const { l, src } = await spread('ec:4+2', 3);
  const data = noise(rng(seed + 1), SEG);
  await l.writeSeg(0, 0, data); await l.sync();
  flip(l, src, 0, 1, 5);
  flip(l, src, 0, 3, 4, 4000);
  await l.scrub();
  const s = l.status().scrub as { bad: number; repaired: number; unrecoverable: number };
  t.same([s.bad, s.repaired, s.unrecoverable], [2, 2, 0], 'two bad units, two repaired');
  await l.scrub();
  t.equal((l.status().scrub as { bad: number }).bad, 0, 'a second scrub is clean');
  t.same(await l.readSeg(0, 0, SEG), data);
  await l.close();
});

t.test('ec:4+2: m+1 bad fragments of one stripe fail that range only', async (t) => {
  const { l, src } = await spread('ec:4+2', 3);
  const r = rng(seed + 2);
  const a = noise(r, SEG), b = noise(r, SEG);
  await l.writeSeg(0, 0, a); await l.writeSeg(1, 0, b); await l.sync();
  for (const role of [0, 2, 5]) flip(l, src, 0, 3, role);
  const SW = l.g.stripeData;
  await t.rejects(l.readSeg(0, 3 * SW + 10, 100), { code: 'CHECKSUM' }, 'the damaged stripe fails with CHECKSUM');
  t.same(await l.readSeg(0, 0, 3 * SW), a.subarray(0, 3 * SW), 'the stripes before it read right');
  t.same(await l.readSeg(0, 4 * SW, SEG - 4 * SW), a.subarray(4 * SW), 'the stripes after it read right');
  t.same(await l.readSeg(1, 0, SEG), b, 'another segment reads right');
  await l.close();
});

t.test('ec:4+2 under a datastore: records are read without unit hashes, and a flipped byte is still rebuilt and repaired', async (t) => {
  const m = await layoutDatastore('ec:4+2', 3, MiB);
  const { ds, fs } = m;
  const l = m.layout as SpreadLayout;
  const want = await writeNew(fs, '/a', [[0, noise(rng(seed + 8), 64 * 1024)]]);
  const v = await fs.resolve('/a');
  let p = null;
  for await (const [, val] of v.map.scan()) { p = decodePtr(val); if (p.state === ExtentState.Present) break; }
  const stripe = Math.floor(p!.off / l.g.stripeData);
  flip(l, m.source, p!.seg, stripe, 1);
  const raw = await l.readSeg(p!.seg, stripe * l.g.stripeData, l.g.stripeData, false);
  const good = await l.readSeg(p!.seg, stripe * l.g.stripeData, l.g.stripeData, true);
  t.not(raw.compare(good), 0, 'an unverified read returns the flipped byte (no unit hash was checked)');
  await l.io.drain();
  const repaired = l.io.counters.repaired;
  flip(l, m.source, p!.seg, stripe, 1, 200);
  const ds2 = await Datastore.open(l); // a cold datastore: nothing of /a is kept in memory
  const fs2 = new Filesystem(ds2);
  const f = await fs2.open('/a', false);
  t.same(await fs2.read(f, 0, 64 * 1024), want, 'the file reads right: its record failed, the verified read rebuilt the unit');
  fs2.release(f);
  await l.io.drain();
  t.equal(l.io.counters.repaired, repaired + 1, 'and the bad unit was written back');
  await fs2.close(); await ds2.close();
  await fs.close().catch(() => undefined);
});

t.test('ec:4+2: a large unverified read that meets a stale unit trailer reads verified once, not fast twice', async (t) => {
  const { l, src } = await spread('ec:4+2', 3, MiB);
  const data = noise(rng(seed + 9), MiB);
  await l.writeSeg(0, 0, data); await l.sync();
  flip(l, src, 0, 5, 1, l.label.unitBytes + 12); // the unit's magic: its trailer no longer says it is there
  let reads = 0;
  for (const tg of src.targets.values()) { const f = tg.readInto.bind(tg); tg.readInto = (off, b) => { reads++; return f(off, b); }; }
  t.same(await l.readSeg(0, 0, MiB, false), data, 'the data comes back, rebuilt');
  const { k, m } = l.label;
  t.ok(reads <= k + k + m, `${reads} target reads: one fast try of the ${k} data roles, then one verified read of all ${k + m}`);
  await l.io.drain();
  await l.close();
});

t.test('ec:4+2 under a datastore: m+1 bad fragments give an error for that file only', async (t) => {
  const m = await layoutDatastore('ec:4+2', 3, MiB);
  const { ds, fs } = m;
  const l = m.layout as SpreadLayout;
  const r = rng(seed + 3);
  const content = new Map<string, Buffer>();
  for (const f of ['/a', '/b']) content.set(f, await writeNew(fs, f, [[0, noise(r, 64 * 1024)]]));
  const v = await fs.resolve('/a');
  for await (const [, val] of v.map.scan()) {
    const p = decodePtr(val);
    if (p.state !== ExtentState.Present) continue;
    const stripe = Math.floor(p.off / l.g.stripeData);
    for (const role of [1, 3, 4]) flip(l, m.source, p.seg, stripe, role);
    break;
  }
  const fa = await fs.open('/a', false);
  const err = await fs.read(fa, 0, 64 * 1024).then(() => null, (e: unknown) => e);
  t.ok(isVdfsError(err, 'CHECKSUM'), `the damaged file fails to read with CHECKSUM (${(err as Error)?.message})`);
  fs.release(fa);
  const fb = await fs.open('/b', false);
  t.same(await fs.read(fb, 0, 64 * 1024), content.get('/b'), 'the other file reads right');
  fs.release(fb);
  await fs.close(); await ds.close();
});

t.test('ec:4+2 on 3: a target lost while writing, rebuilt empty, healed', async (t) => {
  const m = await layoutDatastore('ec:4+2', 3, MiB);
  const { ds, fs } = m;
  const l = m.layout as SpreadLayout;
  const r = rng(seed + 4);
  const model = new Map<string, Buffer>();
  const write = async (name: string, kib: number) => {
    model.set(name, await writeNew(fs, name, Array.from({ length: kib / 32 }, (_, i): [number, Buffer] => [i * 32 * 1024, noise(r, 32 * 1024)])));
  };
  /** Files that do not read back exactly what was written. */
  const wrong = async (f: Filesystem) => { let n = 0; for (const [p, b] of model) if (!(await readWhole(f, p)).equals(b)) n++; return n; };
  await write('/before', 3008);
  m.source.remove('t1');
  await l.probe();
  t.equal(l.slots[1].state, 'missing', 'the probe marks the removed target missing');
  await write('/during', 3008);
  const st = l.status();
  t.equal(st.state, 'DEGRADED', 'status says DEGRADED');
  t.equal(st.targets[1].path, 't1');
  t.ok((st.segments as { replicated: number }).replicated > 0, 'new segments were written as copies');
  const replicaBytes = st.replicaBytes as number;
  t.ok(replicaBytes > 0, `copies take ${replicaBytes} bytes`);
  t.equal(await wrong(fs), 0, 'every file reads what was written, degraded');
  m.source.replaceEmpty('t1');
  const n = await l.rebuild();
  t.ok(n > 0, `rebuild re-created ${n} fragments`);
  const after = l.status();
  t.equal(after.state, 'OK', 'healed back to OK');
  t.equal(after.replicaBytes, 0, 'no copies left');
  t.ok((after.freeChunks as number) > (st.freeChunks as number), `their chunks are free for reuse (${st.freeChunks} → ${after.freeChunks})`);
  t.same(after.targets.map((x) => x.state), ['online', 'online', 'online']);
  await l.scrub();
  const s = l.status().scrub as { bad: number; missing: number; unrecoverable: number };
  t.same([s.bad, s.missing, s.unrecoverable], [0, 0, 0], 'scrub is clean');
  t.equal(await wrong(fs), 0, 'every file reads what was written');
  await fs.close(); await ds.close();
  const ds2 = await Datastore.open(await SpreadLayout.open('t1', m.source, { probe: false }));
  t.equal(await wrong(new Filesystem(ds2)), 0, 'and after reopening from the rebuilt target');
  await ds2.close();
});

t.test('ec:4+2 on 3: a target back with its old bytes is brought up to date and healed', async (t) => {
  const { l, src } = await spread('ec:4+2', 3);
  const r = rng(seed + 5);
  const a = noise(r, SEG), b = noise(r, SEG);
  await l.writeSeg(0, 0, a); await l.sync();
  src.remove('t2'); await l.probe();
  await l.writeSeg(1, 0, b); await l.sync();
  t.equal(l.table.get(1)!.mode, Mode.Replicated, 'written while t2 was out: copies');
  src.restore('t2');
  await l.probe(Infinity);
  t.equal(l.slots[2].state, 'online', 't2 is online again');
  await l.repair.idle();
  t.equal(l.table.get(1)!.mode, Mode.Ec, 'the copies were turned back into EC');
  src.remove('t0'); await l.probe();
  t.same(await l.readSeg(0, 0, SEG), a, 'segment 0 reads without t0');
  t.same(await l.readSeg(1, 0, SEG), b, 'segment 1 reads without t0 (its EC fragments are on t1 and t2)');
  await l.close();
});

t.test('ec:4+2 on 3: a target removed before the health check sees it: its free space cannot be read, commits go on', async (t) => {
  const m = await layoutDatastore('ec:4+2', 3, MiB);
  const { ds, fs } = m;
  const l = m.layout as SpreadLayout;
  const before = await l.space();
  m.source.remove('t1'); // no probe: the slot is still usable, its statfs fails
  await t.rejects(m.source.targets.get('t1')!.available(), { code: 'IO' }, 'the removed target cannot say its free space');
  const after = await l.space();
  t.ok(after.size < before.size, `space() leaves it out (size ${before.size} → ${after.size})`);
  t.ok(after.available > 0, 'and still says what the others can take');
  const d = await writeNew(fs, '/a', [[0, noise(rng(seed + 8), 2 * MiB)]]);
  await fs.refreshCapacity();
  await fs.fsync();
  t.same(await readWhole(fs, '/a'), d, 'writes and commits go on');
  await fs.close(); await ds.close();
});

t.test('ec:4+2 on 3: two targets lost → writes fail with UNAVAILABLE, data intact, reads back when one returns', async (t) => {
  const m = await layoutDatastore('ec:4+2', 3, MiB);
  const { ds, fs } = m;
  const l = m.layout as SpreadLayout;
  const d = await writeNew(fs, '/a', [[0, noise(rng(seed + 6), 2 * MiB)]]);
  const head = await l.readSeg(0, 0, 4096);
  const fh = await fs.open('/a', true);
  m.source.remove('t0'); m.source.remove('t2');
  await l.probe();
  t.equal(l.status().state, 'UNAVAILABLE');
  await fs.write(fh, 0, noise(rng(seed + 7), 256 * 1024));
  await t.rejects(fs.fsync(), { code: 'UNAVAILABLE' }, 'the commit fails with UNAVAILABLE');
  m.source.restore('t2');
  await l.probe(Infinity);
  t.equal(l.slots[2].state, 'online', 't2 is back');
  t.same(await l.readSeg(0, 0, 4096), head, 'the layout reads again what it held');
  await fs.close().catch(() => undefined); await ds.close();
  const ds2 = await Datastore.open(await SpreadLayout.open('t2', m.source, { probe: false }));
  const fs2 = new Filesystem(ds2);
  const f2 = await fs2.open('/a', false);
  t.same(await fs2.read(f2, 0, 2 * MiB), d, 'committed data reads back whole with two of three targets');
  fs2.release(f2);
  await fs2.close(); await ds2.close();
});
