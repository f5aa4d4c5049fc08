// Space: random overwrites with the segment cleaner keep the datastore under 2x the live data;
// deleting every snapshot gives the space back; the space recount from the trees stays exact
// and every byte reads back after a reopen.
import t from 'tap';
import { createHash } from 'node:crypto';
import { block, DEFAULTS, digest, memDatastore, MiB, reopen, ROOT, rng, seedFromEnv } from '../helpers/mem.js';
import { recountSpace } from '../helpers/space-check.js';
import { LIMITS } from '../../src/limits.js';

const SIZE = Number(process.env.SPACE_MIB ?? 256) * MiB;
const PASSES = Number(process.env.SPACE_PASSES ?? 10);

t.test(`a ${SIZE / MiB} MiB vdisk overwritten ${PASSES} times at random stays under 2x its size`, async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  const rand = rng(seed);
  const { target, ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, blocks = SIZE / bs;
  const version = new Array<number>(blocks).fill(0);
  const fh = fs.addHandle(await fs.create('/disk.raw', 0o644, ROOT));
  for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 0));
  await fs.fsync();
  let peak = 0;
  for (let i = 0; i < PASSES * blocks; i++) {
    const lbn = Math.floor(rand() * blocks);
    await fs.write(fh, lbn * bs, block(bs, lbn, ++version[lbn]));
    if (i % 4096 === 0) peak = Math.max(peak, await target.size());
  }
  await fs.fsync();
  await fs.fsync(); // a second commit frees what the first one's cleaning emptied
  peak = Math.max(peak, await target.size());
  t.comment(`peak datastore file ${(peak / MiB).toFixed(0)} MiB for ${SIZE / MiB} MiB live; cleaner ${JSON.stringify(fs.cleaner.stats)}`);
  t.ok(peak < 2 * SIZE, `datastore file peaked at ${(peak / SIZE).toFixed(2)}x the live data (seed ${seed})`);
  t.ok(fs.cleaner.stats.segmentsCleaned > 0, 'the cleaner ran');
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact after cleaning');
  const want = createHash('sha256');
  for (let lbn = 0; lbn < blocks; lbn++) want.update(block(bs, lbn, version[lbn]));
  fs.release(fh);
  await fs.close();
  const r = (await reopen(target, DEFAULTS.segmentSize)).fs;
  t.equal(await digest(r, '/disk.raw'), want.digest('hex'), 'every block reads back after reopen');
});

t.test('after deleting every snapshot and overwriting, used space is the live data within a segment per file', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, files = ['/a.raw', '/b.raw'], size = 24 * MiB, blocks = size / bs;
  const rand = rng(11);
  const handles = await Promise.all(files.map(async (f) => fs.addHandle(await fs.create(f, 0o644, ROOT))));
  for (const fh of handles) for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 1));
  for (let round = 0; round < 4; round++) {
    await fs.snapshots.create('/', `r${round}`);
    for (const fh of handles) for (let i = 0; i < blocks / 2; i++) { const lbn = Math.floor(rand() * blocks); await fs.write(fh, lbn * bs, block(bs, lbn, 10 + round)); }
  }
  await fs.fsync();
  const withSnaps = ds.space.usedBytes();
  for (let round = 0; round < 4; round++) await fs.snapshots.delete('/', `r${round}`);
  for (const fh of handles) for (let i = 0; i < blocks; i++) { const lbn = Math.floor(rand() * blocks); await fs.write(fh, lbn * bs, block(bs, lbn, 99)); }
  await fs.fsync();
  await fs.fsync();
  const used = ds.space.usedBytes(), live = files.length * size;
  t.comment(`used ${(withSnaps / MiB).toFixed(1)} MiB with snapshots, ${(used / MiB).toFixed(1)} MiB after; live data ${live / MiB} MiB`);
  t.ok(used >= live && used - live <= files.length * ds.sb.segmentSize, `used ${used} within a segment per file of ${live}`);
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  for (const fh of handles) fs.release(fh);
});

t.test('with segments to clean, the file grows instead while 70% of it is live, and cleans once its backing store has no room', async (t) => {
  const { target, ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, blocks = (192 * MiB) / bs;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 0));
  await fs.txg.sync();
  // every other block of the first 16 MiB: its segments are left half live (cleaner candidates)
  const halve = async (version: number) => {
    for (let lbn = 0; lbn < blocks / 12; lbn += 2) await fs.write(fh, lbn * bs, block(bs, lbn, version));
    await fs.txg.sync();
  };
  await halve(1);
  // a commit that finds them: 2 MiB more in the second half
  for (let lbn = blocks / 2; lbn < blocks / 2 + 64; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 1));
  await fs.txg.sync();
  const grown = await target.size();
  t.ok(ds.space.usedBytes() >= LIMITS.CLEAN_UTILIZATION * grown, `the file is still 70% live (${(ds.space.usedBytes() / MiB).toFixed(0)} of ${(grown / MiB).toFixed(0)} MiB)`);
  t.equal(fs.cleaner.stats.runs, 0, 'so nothing was cleaned');
  target.available = async () => 0; // the file system under the datastore is full
  for (let v = 2; v < 10; v++) await halve(v);
  t.ok(fs.cleaner.stats.segmentsCleaned > 0, `with no room to grow the cleaner ran (${fs.cleaner.stats.segmentsCleaned} segments)`);
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  fs.release(fh);
});
