// Space: random overwrites with the segment cleaner keep the datastore under 2x the live data;
// deleting every snapshot gives the space back; the space recount from the trees stays exact
// and every byte reads back after a reopen.
import t from 'tap';
import { createHash } from 'node:crypto';
import { SingleLayout } from '../../src/backing/layout.js';
import { MemTarget } from '../../src/backing/target.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { Datastore } from '../../src/txn/datastore.js';
import { LIMITS } from '../../src/limits.js';
import { ROOT, rng, seedFromEnv } from '../helpers/mem.js';
import { recountSpace } from '../helpers/space-check.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.SPACE_MIB ?? 256) * MiB;
const PASSES = Number(process.env.SPACE_PASSES ?? 10);

async function defaultDatastore(): Promise<{ target: MemTarget; ds: Datastore; fs: Filesystem }> {
  await initChecksum();
  const target = new MemTarget();
  const ds = await Datastore.mkfs(new SingleLayout(target, LIMITS.SEGMENT_SIZE));
  return { target, ds, fs: new Filesystem(ds) };
}

/** A block's content for (lbn, version): never all zeros, cheap to make and to check. */
function block(bs: number, lbn: number, version: number): Buffer {
  const b = Buffer.alloc(bs, (lbn * 7 + version * 13) % 251 + 1);
  b.writeUInt32LE(lbn, 0); b.writeUInt32LE(version, 4);
  return b;
}

async function digest(fs: Filesystem, path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.open(path, false);
  for (let off = 0; off < size; off += 8 * MiB) h.update(await fs.read(fh, off, Math.min(8 * MiB, size - off)));
  fs.release(fh);
  return h.digest('hex');
}

t.test(`a ${SIZE / MiB} MiB vdisk overwritten ${PASSES} times at random stays under 2x its size`, async (t) => {
  const seed = seedFromEnv();
  const rand = rng(seed);
  const { target, ds, fs } = await defaultDatastore();
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
  t.comment(`seed ${seed}: peak datastore file ${(peak / MiB).toFixed(0)} MiB for ${SIZE / MiB} MiB live; cleaner ${JSON.stringify(fs.cleaner.stats)}`);
  t.ok(peak < 2 * SIZE, `datastore file peaked at ${(peak / SIZE).toFixed(2)}x the live data (seed ${seed})`);
  t.ok(fs.cleaner.stats.segmentsCleaned > 0, 'the cleaner ran');
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact after cleaning');
  const want = createHash('sha256');
  for (let lbn = 0; lbn < blocks; lbn++) want.update(block(bs, lbn, version[lbn]));
  fs.release(fh);
  await fs.close();
  const r = new Filesystem(await Datastore.open(new SingleLayout(target, LIMITS.SEGMENT_SIZE)));
  t.equal(await digest(r, '/disk.raw', SIZE), want.digest('hex'), 'every block reads back after reopen');
});

t.test('after deleting every snapshot and overwriting, used space is the live data within a segment per file', async (t) => {
  const { ds, fs } = await defaultDatastore();
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
