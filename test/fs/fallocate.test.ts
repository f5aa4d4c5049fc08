// fallocate on a vdisk: mode 0 grows the size and reserves nothing; KEEP_SIZE changes nothing;
// punching a hole or zeroing a range reads zeros there (whole blocks stored as zero extents,
// their records freed; edges written in part), skipping blocks already zero; a seeded mix of
// writes, punches, zero ranges and size changes against a byte model, before and after a reopen,
// with the space recount and the verifier.
import t from 'tap';
import { verify } from '../../src/fs/commands.js';
import { decodeMapValue, presentPtrs } from '../../src/format/map-value.js';
import type { Filesystem } from '../../src/fs/filesystem.js';
import type { FallocateMode } from '../../src/fs/fallocate.js';
import { DEFAULTS, memDatastore, MiB, readWhole, reopen, ROOT, rng, seedFromEnv } from '../helpers/mem.js';
import { recountSpace } from '../helpers/space-check.js';

const ROUNDS = Number(process.env.FALLOCATE_ROUNDS ?? 1);
const GROW: FallocateMode = { keepSize: false, zero: false };
const KEEP: FallocateMode = { keepSize: true, zero: false };
const PUNCH: FallocateMode = { keepSize: true, zero: true };
const ZERO: FallocateMode = { keepSize: false, zero: true };

const noise = (r: () => number, len: number): Buffer => {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256) | 1; // never zero: zeroed bytes show
  return b;
};

/** A fresh datastore whose /v holds `blocks` blocks of noise (seeded), written and not yet committed. */
async function vdisk(seed: number, blocks: number) {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  const data = noise(rng(seed), blocks * bs);
  await fs.write(fh, 0, data);
  return { ds, fs, bs, fh, data };
}

/** Blocks of the file whose map value names a present record. */
async function presentBlocks(fs: Filesystem, path: string): Promise<number> {
  const v = await fs.resolve(path);
  let n = 0;
  for await (const [, val] of v.map.scan()) if (presentPtrs(decodeMapValue(val, fs.ds.subsPerBlock)).length) n++;
  return n;
}

t.test('mode 0 grows the size (reads zeros), KEEP_SIZE changes nothing, neither writes', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  const used = ds.space.usedBytes();
  t.same(await fs.fallocate(fh, 0, 64 * MiB, GROW), { zeroedBytes: 0, skippedBlocks: 0 }, 'nothing zeroed');
  t.equal((await fs.getattr('/v')).size, 64 * MiB, 'the size grew');
  await fs.fallocate(fh, 0, MiB, GROW);
  t.equal((await fs.getattr('/v')).size, 64 * MiB, 'a range inside the file does not shrink it');
  await fs.fallocate(fh, 64 * MiB, 8 * MiB, KEEP);
  t.equal((await fs.getattr('/v')).size, 64 * MiB, 'KEEP_SIZE past the end keeps the size');
  await fs.fsync();
  t.ok(ds.space.usedBytes() - used < MiB, `nothing is reserved (${ds.space.usedBytes() - used} bytes more: metadata)`);
  t.ok((await fs.read(fh, 63 * MiB, MiB)).equals(Buffer.alloc(MiB)), 'the grown part reads zeros');
  await t.rejects(fs.fallocate(fh, 0, 0, GROW), { code: 'INVALID' }, 'len 0 is refused');
  fs.release(fh);
});

t.test('a punched hole reads zeros; whole blocks become zero extents and free their records; the edges are written in part', async (t) => {
  const { ds, fs, bs, fh, data: model } = await vdisk(1, 32);
  await fs.fsync();
  const used = ds.space.usedBytes();
  const from = 3 * bs + 100, to = 20 * bs - 7; // blocks 4..18 whole, 3 and 19 in part
  const res = await fs.fallocate(fh, from, to - from, PUNCH);
  model.fill(0, from, to);
  t.equal(res.zeroedBytes, to - from, 'every byte of the range written as zero');
  t.ok((await readWhole(fs, '/v')).equals(model), 'reads zeros in the hole, the rest unchanged (open txg)');
  await fs.fsync();
  t.ok((await readWhole(fs, '/v')).equals(model), 'and after the commit');
  t.equal(await presentBlocks(fs, '/v'), 32 - 15, 'the 15 blocks punched whole hold no record');
  t.ok(used - ds.space.usedBytes() >= 15 * bs, `their records are freed (${used - ds.space.usedBytes()} bytes)`);
  t.equal((await fs.getattr('/v')).size, 32 * bs, 'the size is kept');
  const again = await fs.fallocate(fh, 4 * bs, 15 * bs, PUNCH);
  t.same(again, { zeroedBytes: 0, skippedBlocks: 15 }, 'punching it again skips every block (nothing written)');
  const past = await fs.fallocate(fh, 30 * bs, 10 * bs, PUNCH);
  model.fill(0, 30 * bs);
  t.equal(past.zeroedBytes, 2 * bs, 'a punch past the end zeros up to the end only');
  t.equal((await fs.getattr('/v')).size, 32 * bs, 'and keeps the size');
  await fs.fsync();
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  t.same((await verify(fs, '/v')).alarms, [], 'verify clean');
  fs.release(fh);
});

t.test('zero range without KEEP_SIZE zeros what is inside and grows the size', async (t) => {
  const { fs, bs, fh, data } = await vdisk(2, 4);
  await fs.fallocate(fh, 2 * bs + 5, 6 * bs, ZERO); // dirty blocks zeroed before any commit
  const want = Buffer.concat([data.subarray(0, 2 * bs + 5), Buffer.alloc(6 * bs)]);
  t.equal((await fs.getattr('/v')).size, 8 * bs + 5, 'the size grew to the range\'s end');
  t.ok((await readWhole(fs, '/v')).equals(want), 'zeros from the range on');
  await fs.fsync();
  t.ok((await readWhole(fs, '/v')).equals(want), 'after the commit');
  fs.release(fh);
});

t.test('a punch of a large, mostly empty vdisk walks only what the map holds; after a failed commit it is refused; a truncation during it stands', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, r = rng(3);
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.fallocate(fh, 0, 64 * 1024 * MiB, GROW);
  const data = noise(r, 3 * bs);
  await fs.write(fh, 40 * 1024 * MiB, data); // three blocks written in 64 GiB
  await fs.fsync();
  const res = await fs.fallocate(fh, 0, 64 * 1024 * MiB, PUNCH);
  t.same(res, { zeroedBytes: 3 * bs, skippedBlocks: (64 * 1024 * MiB) / bs - 3 }, 'only the three stored blocks are written');
  t.ok((await fs.read(fh, 40 * 1024 * MiB, 3 * bs)).equals(Buffer.alloc(3 * bs)), 'they read zeros');

  await fs.write(fh, 0, noise(r, 64 * bs));
  const punch = fs.fallocate(fh, 0, 64 * bs, PUNCH);
  await fs.truncate(null, fh, 10 * bs); // lands while the punch is under way
  await punch;
  t.equal((await fs.getattr('/v')).size, 10 * bs, 'the punch does not grow the file back past a truncation');

  fs.txg.failure = new Error('injected commit failure');
  await t.rejects(fs.fallocate(fh, 0, bs, PUNCH), { code: 'READ_ONLY' }, 'refused after a failed commit');
  fs.txg.failure = null;
  fs.release(fh);
});

t.test('a commit that fails during a punch stops its zero writes (READ_ONLY), instead of piling up blocks no commit can take', async (t) => {
  const { fs, bs, fh } = await vdisk(4, 256); // 8 MiB: eight zero runs of 1 MiB
  let runs = 0;
  const write = fs.writes.write.bind(fs.writes);
  fs.writes.write = (file, off, data) => { if (++runs === 2) fs.txg.failure = new Error('injected commit failure'); return write(file, off, data); };
  await t.rejects(fs.fallocate(fh, 0, 256 * bs, PUNCH), { code: 'READ_ONLY' }, 'the punch fails with READ_ONLY');
  t.equal(runs, 2, 'no zero write after the failure');
  fs.txg.failure = null;
  fs.release(fh);
});

t.test('seeded writes, punches, zero ranges, growth and truncation match a byte model, and after a reopen', async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const seed = seedFromEnv() + round;
    const r = rng(seed);
    const { target, ds, fs } = await memDatastore({ blockSize: 32 * 1024, segmentSize: 256 * 1024 });
    const bs = ds.blockSize, max = 48 * bs;
    const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
    let model = Buffer.alloc(0);
    const resize = (n: number) => { const m = Buffer.alloc(n); model.copy(m, 0, 0, Math.min(n, model.length)); model = m; };
    const at = () => Math.floor(r() * max), span = () => 1 + Math.floor(r() * (r() < 0.5 ? 4096 : 8 * bs));
    for (let i = 0; i < 120; i++) {
      const x = r(), off = at(), len = Math.min(span(), max - off);
      if (x < 0.4) {
        const d = noise(r, len);
        await fs.write(fh, off, d);
        if (off + len > model.length) resize(off + len);
        d.copy(model, off);
      } else if (x < 0.6) {
        await fs.fallocate(fh, off, len, PUNCH);
        if (off < model.length) model.fill(0, off, Math.min(off + len, model.length));
      } else if (x < 0.75) {
        await fs.fallocate(fh, off, len, ZERO);
        if (off < model.length) model.fill(0, off, Math.min(off + len, model.length));
        if (off + len > model.length) resize(off + len);
      } else if (x < 0.85) {
        await fs.fallocate(fh, off, len, GROW);
        if (off + len > model.length) resize(off + len);
      } else if (x < 0.92) {
        await fs.truncate(null, fh, off); resize(off);
      } else await fs.fsync();
    }
    const ok = (await readWhole(fs, '/v')).equals(model);
    t.ok(ok, `round ${round}: content equals the model`, ok ? {} : { seed });
    fs.release(fh);
    await fs.close();
    t.same((await recountSpace(ds)).mismatches, [], `round ${round}: space recount exact`);
    await ds.close();
    const again = await reopen(target, 256 * 1024);
    const back = (await readWhole(again.fs, '/v')).equals(model);
    t.ok(back, `round ${round}: and after a reopen`, back ? {} : { seed });
    t.same((await verify(again.fs, '/v')).alarms, [], `round ${round}: verify clean`);
    await again.fs.close(); await again.ds.close();
    if (!ok || !back) t.comment(`seed ${seed} (rerun with SEED=${seed})`);
  }
});
