// Incremental restore of a 1 GiB vdisk with 1% of its blocks changed since the snapshot: the
// number of blocks moved equals the number changed, the content equals the snapshot, a newer
// snapshot reads as before, and the common snapshot holds the present before the restore.
import t from 'tap';
import { restoreFile } from '../../src/fs/restore.js';
import { LIMITS } from '../../src/limits.js';
import { leafEntryBytes } from '../../src/meta/node-codec.js';
import { PTR_SIZE } from '../../src/format/ptr.js';
import { block, DEFAULTS, digest, memDatastore, MiB, ROOT, rng, seedFromEnv } from '../helpers/mem.js';

const SIZE = Number(process.env.RESTORE_MIB ?? 1024) * MiB;

t.test(`restore a ${SIZE / MiB} MiB vdisk with 1% changed`, async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  const rand = rng(seed);
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, blocks = SIZE / bs;
  const fh = fs.addHandle(await fs.create('/disk.raw', 0o644, ROOT));
  for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 0));
  await fs.snapshots.create('/disk.raw', 'base');
  const baseSum = await digest(fs, '/.snapshots/disk.raw/base');
  const changed = new Set<number>();
  const change = async (n: number, version: number) => {
    for (let i = 0; i < n; i++) { const lbn = Math.floor(rand() * blocks); changed.add(lbn); await fs.write(fh, lbn * bs, block(bs, lbn, version)); }
  };
  await change(blocks / 200, 1);
  await fs.snapshots.create('/disk.raw', 'newer');
  const newerSum = await digest(fs, '/.snapshots/disk.raw/newer');
  await change(blocks / 200, 2);
  await fs.write(fh, SIZE, Buffer.alloc(3 * bs, 9)); // the file also grew past the snapshot's size
  const presentSum = await digest(fs, '/disk.raw');
  const progress: number[] = [];
  const r = await restoreFile(fs, '/disk.raw', 'base', (done, total) => progress.push(done / Math.max(1, total)));
  t.comment(JSON.stringify(r));
  t.equal(r.blocksMoved, changed.size, `moved exactly the ${changed.size} changed blocks (${((100 * changed.size) / blocks).toFixed(2)}%)`);
  t.equal((await fs.getattr('/disk.raw')).size, SIZE, 'size restored');
  t.equal(await digest(fs, '/disk.raw'), baseSum, 'content = the snapshot');
  t.equal(await digest(fs, '/.snapshots/disk.raw/newer'), newerSum, 'newer snapshot unchanged');
  t.equal(await digest(fs, `/.snapshots/disk.raw/${r.commonSnapshot}`), presentSum, 'common snapshot = the present before');
  t.equal(progress[progress.length - 1], 1, 'progress reached the end');
  const list = await fs.snapshots.list('/disk.raw');
  t.same(list.map((s) => `${s.name}<${s.parent}`), ['base<null', 'newer<base', `${r.commonSnapshot}<newer`]);
  const header = (await ds.catalog.of((await fs.resolve('/disk.raw')).ino)).header;
  t.equal(header.liveParent, list[0].id, 'the live file now descends from base');
  fs.release(fh);
});

t.test('a clustered change: the diff reads only the subtrees that differ', async (t) => {
  const { ds, fs } = await memDatastore({ ...DEFAULTS, blockSize: 4096 });
  const bs = ds.blockSize, blocks = (64 * MiB) / bs;
  const fh = fs.addHandle(await fs.create('/d', 0o644, ROOT));
  for (let lbn = 0; lbn < blocks; lbn += 256) await fs.write(fh, lbn * bs, Buffer.concat(Array.from({ length: 256 }, (_, i) => block(bs, lbn + i, 0))));
  await fs.snapshots.create('/d', 'base');
  const sum = await digest(fs, '/d');
  const run = Math.ceil(blocks / 100), first = 5000;
  for (let lbn = first; lbn < first + run; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 1));
  const r = await restoreFile(fs, '/d', 'base');
  t.equal(r.blocksMoved, run, `moved the ${run} changed blocks`);
  t.ok(r.blocksCompared < blocks / 10, `compared ${r.blocksCompared} of ${blocks} entries`);
  // Each side of the diff reads its root-to-leaf path (3 levels here) and the leaves the run
  // covers: a leaf holds at least half of what makes it split (8-byte keys, 32-byte pointers).
  const leafMin = Math.floor(LIMITS.NODE_SPLIT_BYTES / 2 / leafEntryBytes(Buffer.alloc(8), Buffer.alloc(PTR_SIZE)));
  const bound = 2 * (3 + Math.ceil(run / leafMin) + 1);
  t.ok(r.nodesRead <= bound, `read ${r.nodesRead} nodes (at most ${bound}): the paths and the few leaves that differ`);
  t.equal(await digest(fs, '/d'), sum);
  fs.release(fh);
});

t.test('a restored block is the live file\'s own: writing it does not change the snapshot\'s records', async (t) => {
  const { fs } = await memDatastore({ ...DEFAULTS, blockSize: 4096 });
  const bs = 4096, blocks = 64;
  const fh = fs.addHandle(await fs.create('/d', 0o644, ROOT));
  for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 0));
  await fs.txg.sync();
  for (let lbn = 0; lbn < blocks; lbn++) await fs.read(fh, lbn * bs, bs); // sequential: its records are fetched ahead and kept
  await fs.snapshots.create('/d', 'base');
  const sum = await digest(fs, '/.snapshots/d/base');
  for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs, block(bs, lbn, 1));
  await fs.txg.sync(); // committed (an fsync may only log them)
  // Writes into the restored blocks while they are still dirty: just before the restore's own commit.
  const sync = fs.txg.sync.bind(fs.txg);
  let during = '';
  const v = await fs.resolve('/d');
  fs.txg.sync = async () => {
    if (!v.open.blocks.size) return sync(); // the snapshot the restore takes first
    fs.txg.sync = sync;
    for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs + 100, Buffer.alloc(10, 0xee));
    during = await digest(fs, '/.snapshots/d/base');
    return sync();
  };
  await restoreFile(fs, '/d', 'base');
  t.equal(during, sum, 'the snapshot reads as it did while the restored blocks are written');
  t.equal(await digest(fs, '/.snapshots/d/base'), sum, 'and after the commit');
  await restoreFile(fs, '/d', 'base'); // reads the snapshot's records again (the read-ahead cache may hold them)
  t.equal(await digest(fs, '/d'), sum, 'restoring it again gives its content, not the later writes');
  fs.release(fh);
});
