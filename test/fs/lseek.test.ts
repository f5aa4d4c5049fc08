// lseek's SEEK_DATA / SEEK_HOLE on a vdisk: data where blocks are written (dirty or committed),
// holes where never written, punched (once committed: a dirty block counts as data) or truncated
// away, the end of the file a hole, ENXIO past
// the end or past the last data; a seeded layout of written blocks against a block model,
// across map windows.
import t from 'tap';
import type { FallocateMode } from '../../src/fs/fallocate.js';
import { LIMITS } from '../../src/limits.js';
import { DEFAULTS, memDatastore, MiB, ROOT, rng, seedFromEnv } from '../helpers/mem.js';

const PUNCH: FallocateMode = { keepSize: true, zero: true };
const GROW: FallocateMode = { keepSize: false, zero: false };

t.test('data and holes: dirty, committed, punched, the end, past the end', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.fallocate(fh, 0, 64 * bs, GROW);
  t.equal(await fs.seek(fh, '/v', 0, 'hole'), 0, 'an empty vdisk is a hole from the start');
  await t.rejects(fs.seek(fh, '/v', 0, 'data'), { code: 'PAST_END' }, 'and has no data (ENXIO)');
  await fs.write(fh, 10 * bs + 100, Buffer.alloc(10, 1)); // dirty block 10
  t.equal(await fs.seek(fh, '/v', 0, 'data'), 10 * bs, 'a dirty block is data');
  t.equal(await fs.seek(fh, '/v', 10 * bs + 50, 'data'), 10 * bs + 50, 'an offset inside data is its own answer');
  t.equal(await fs.seek(fh, '/v', 10 * bs, 'hole'), 11 * bs, 'the hole after it');
  await fs.txg.sync();
  await fs.write(fh, 11 * bs, Buffer.alloc(bs, 2));
  t.equal(await fs.seek(fh, '/v', 10 * bs, 'hole'), 12 * bs, 'committed block 10 and dirty 11 are one stretch of data');
  await fs.txg.sync();
  await fs.fallocate(fh, 10 * bs, bs, PUNCH);
  await fs.txg.sync();
  t.equal(await fs.seek(fh, '/v', 0, 'data'), 11 * bs, 'a punched block is a hole');
  t.equal(await fs.seek(fh, '/v', 12 * bs, 'hole'), 12 * bs, 'an offset in a hole is its own answer');
  await fs.write(fh, 63 * bs, Buffer.alloc(bs, 3));
  t.equal(await fs.seek(fh, '/v', 63 * bs, 'hole'), 64 * bs, 'the end of the file is a hole');
  await t.rejects(fs.seek(fh, '/v', 64 * bs, 'data'), { code: 'PAST_END' }, 'at the end: ENXIO');
  await t.rejects(fs.seek(fh, '/v', 64 * bs, 'hole'), { code: 'PAST_END' }, 'for holes too');
  await fs.txg.sync(); // block 63 is in the map now
  await fs.truncate(null, fh, 40 * bs);
  await fs.fallocate(fh, 0, 64 * bs, GROW);
  await t.rejects(fs.seek(fh, '/v', 12 * bs, 'data'), { code: 'PAST_END' }, 'blocks truncated away are holes before the truncation is committed (no data after block 11)');
  await fs.txg.sync();
  await t.rejects(fs.seek(fh, '/v', 12 * bs, 'data'), { code: 'PAST_END' }, 'and after');
  fs.release(fh);
});

t.test('a seeded layout of written blocks across map windows matches a block model', async (t) => {
  const seed = seedFromEnv(), r = rng(seed);
  t.comment(`seed ${seed}`);
  const { ds, fs } = await memDatastore({ blockSize: 4096, segmentSize: 1024 * 1024 });
  const bs = ds.blockSize, blocks = 2 * LIMITS.LSEEK_WINDOW_BLOCKS + 77;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.fallocate(fh, 0, blocks * bs, GROW);
  const data = new Set<number>();
  for (let i = 0; i < 60; i++) {
    const at = Math.floor(r() * blocks), n = 1 + Math.floor(r() * 4);
    for (let b = at; b < Math.min(blocks, at + n); b++) { await fs.write(fh, b * bs, Buffer.alloc(bs, 9)); data.add(b); }
    if (i % 20 === 19) await fs.txg.sync();
  }
  const nextData = (b: number) => { for (let x = b; x < blocks; x++) if (data.has(x)) return x * bs; return -1; };
  const nextHole = (b: number) => { for (let x = b; x < blocks; x++) if (!data.has(x)) return x * bs; return blocks * bs; };
  let bad = 0;
  for (let i = 0; i < 200; i++) {
    const b = Math.floor(r() * blocks);
    const d = await fs.seek(fh, '/v', b * bs, 'data').catch(() => -1);
    if (d !== nextData(b)) bad++;
    if ((await fs.seek(fh, '/v', b * bs, 'hole')) !== nextHole(b)) bad++;
  }
  t.equal(bad, 0, `200 seeks of each kind answer as the model (seed ${seed})`);
  fs.release(fh);
});
