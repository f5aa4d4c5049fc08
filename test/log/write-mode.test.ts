// Which way commits write the log (log/write-mode.ts): the learning order, the choice, the
// remeasure, small commits; then through a datastore: a commit writes its chunks the way chosen
// (EmulatedDirect counts the direct ones) and either way reads back after a reopen.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { directPolicy, WriteMode } from '../../src/log/write-mode.js';
import { LIMITS } from '../../src/limits.js';
import { Datastore } from '../../src/txn/datastore.js';
import { SingleLayout } from '../../src/backing/layout.js';
import { MemTarget } from '../../src/backing/target.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { DEFAULTS, MiB, ROOT } from '../helpers/mem.js';

const BIG = LIMITS.DIRECT_SAMPLE_BYTES, N = LIMITS.DIRECT_SAMPLES;

/** Runs one large commit the way m says, at `rate` bytes/ms for its way; returns the way it went. */
function commit(m: WriteMode, rate: { direct: number; buffered: number }, bytes = BIG): boolean {
  const d = m.direct(bytes);
  m.record(d, bytes, bytes, bytes / (d ? rate.direct : rate.buffered));
  return d;
}

t.test('VDFS_DIRECT picks the policy', async (t) => {
  t.equal(directPolicy({ VDFS_DIRECT: '1' }), 'always');
  t.equal(directPolicy({ VDFS_DIRECT: '0' }), 'never');
  t.equal(directPolicy({}), 'auto');
  for (const p of ['always', 'never'] as const) {
    const m = new WriteMode(p);
    for (let i = 0; i < 20; i++) commit(m, { direct: 1, buffered: 1000 });
    t.equal(m.direct(BIG), p === 'always', `${p}: whatever the rates`);
    t.equal(m.direct(1), p === 'always', `${p}: whatever the size`);
    t.equal(m.status().samples, 0, `${p}: nothing weighed`);
  }
});

t.test('auto: direct first, then buffered, each after one commit not weighed; then the faster', async (t) => {
  for (const fast of ['direct', 'buffered'] as const) {
    const rate = fast === 'direct' ? { direct: 3000, buffered: 1000 } : { direct: 1000, buffered: 3000 };
    const m = new WriteMode('auto');
    const ways: boolean[] = [];
    for (let i = 0; i < 2 * (N + 1); i++) ways.push(commit(m, rate));
    const want = [...Array(N + 1).fill(true), ...Array(N + 1).fill(false)];
    t.same(ways, want, `${fast} faster: ${N + 1} direct commits, then ${N + 1} buffered (the first of each not weighed)`);
    t.equal(m.status().samples, 2 * N, 'samples taken');
    t.equal(m.direct(BIG), fast === 'direct', `then ${fast}`);
    const s = m.status();
    t.ok(fast === 'direct' ? s.directMiBs > s.bufferedMiBs : s.bufferedMiBs > s.directMiBs, 'status shows the medians');
    const small: boolean[] = [];
    for (let i = 0; i < 5; i++) small.push(commit(m, rate, BIG - 1));
    t.same(small, Array(5).fill(false), 'smaller commits stay buffered');
    t.equal(m.status().samples, 2 * N, 'and are not weighed');
    t.equal(m.direct(BIG), fast === 'direct', 'nor change the choice');
  }
});

t.test('auto: samples are the commits sent the measured way by their estimate, counted for the way they wrote', async (t) => {
  const m = new WriteMode('auto');
  m.record(true, BIG, BIG, 1); // the first, not weighed
  m.record(true, BIG, BIG / 2, BIG / 2000); // estimated large, wrote less: still a sample
  t.equal(m.status().samples, 1, 'a commit estimated large is weighed whatever it appended');
  m.record(false, BIG, BIG, 1); // sent direct, but no staging buffer: wrote buffered
  t.equal(m.status().samples, 1, 'a commit that wrote another way than it was sent is not');
  m.record(true, BIG - 1, 10 * BIG, 1);
  t.equal(m.status().samples, 1, 'nor one estimated small, however much it appended');
  t.same([m.status().directCommits, m.status().bufferedCommits], [3, 1], 'every commit counted by the way it wrote');
});

t.test('auto: after DIRECT_REPROBE_SAMPLES the other way is measured again, and taken if it became faster', async (t) => {
  const rate = { direct: 3000, buffered: 1000 };
  const m = new WriteMode('auto');
  for (let i = 0; i < 2 * (N + 1); i++) commit(m, rate);
  t.ok(m.direct(BIG), 'direct chosen');
  const ways: boolean[] = [];
  // the first direct commit after learning is not weighed (the way changed); the last learning sample counted
  for (let i = 0; i < LIMITS.DIRECT_REPROBE_SAMPLES; i++) ways.push(commit(m, rate));
  t.ok(ways.every((w) => w), 'direct until DIRECT_REPROBE_SAMPLES samples since the choice');
  rate.buffered = 9000; // the machine changed
  const probe: boolean[] = [];
  for (let i = 0; i < N + 2; i++) probe.push(commit(m, rate));
  t.same(probe.slice(0, N + 1), Array(N + 1).fill(false), 'then buffered: one not weighed and DIRECT_SAMPLES samples');
  t.notOk(m.direct(BIG), 'buffered is faster now, and chosen');
});

t.test('through a datastore: a large commit writes its chunks the way chosen, a small one buffered, and all read back', async (t) => {
  await initChecksum();
  const target = new MemTarget({ direct: true });
  const ds = await Datastore.mkfs(new SingleLayout(target, DEFAULTS.segmentSize), { ...DEFAULTS, direct: 'auto' });
  const fs = new Filesystem(ds);
  await fs.recover();
  const fh = fs.addHandle(await fs.create('/d', 0o644, ROOT));
  const data = randomBytes(81 * MiB);
  const wrote = async (lo: number, hi: number) => {
    const before = target.direct!.writes;
    await fs.write(fh, lo * MiB, data.subarray(lo * MiB, hi * MiB));
    await fs.txg.sync();
    return target.direct!.writes - before;
  };
  t.ok(await wrote(0, 40) >= 8, 'a commit of 40 MiB went in direct chunks (auto starts direct)');
  t.equal(await wrote(40, 41), 0, 'a commit of 1 MiB went buffered');
  const m = ds.writeMode; // buffered found faster
  while (m.direct(BIG)) m.record(true, BIG, BIG, BIG / 100);
  for (let i = 0; i <= N; i++) m.record(false, BIG, BIG, BIG / 1000);
  t.notOk(m.direct(BIG), 'buffered chosen');
  t.equal(await wrote(41, 81), 0, 'the next 40 MiB commit wrote no direct chunk');
  await fs.close();
  await ds.close();
  const again = await Datastore.open(new SingleLayout(target, DEFAULTS.segmentSize));
  const rfs = new Filesystem(again);
  await rfs.recover();
  const rh = await rfs.open('/d', false);
  t.ok((await rfs.read(rh, 0, data.length)).equals(data), 'the direct commit and the buffered ones read back');
  await rfs.close();
  await again.close();
});
