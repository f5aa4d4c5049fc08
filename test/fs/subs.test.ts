// Sub-block records: 4 KiB writes into 32 KiB blocks are stored as sub-block records laid over
// the stored block (no read of the rest), up to the datastore's maxSubs per block (all 8 of a
// 32 KiB block's in v6, when the base goes; 4 in v5), then folded into a whole block. A seeded mix of aligned, unaligned and whole-block writes, truncations,
// snapshots, restores and cleaning is checked against a byte model, the space recount and the
// verifier, before and after a reopen.
import t from 'tap';
import { restoreFile } from '../../src/fs/restore.js';
import { verify } from '../../src/fs/commands.js';
import { decodeMapValue, presentPtrs, V5_MAX_SUBS } from '../../src/format/map-value.js';
import { LIMITS } from '../../src/limits.js';
import type { Filesystem } from '../../src/fs/filesystem.js';
import { DEFAULTS, memDatastore, MiB, readWhole, reopen, ROOT, rng, seedFromEnv } from '../helpers/mem.js';
import { recountSpace } from '../helpers/space-check.js';

const S = LIMITS.SUB_BYTES;
const ROUNDS = Number(process.env.SUBS_ROUNDS ?? 1);

/** Map values of a file: how many blocks carry sub-blocks, and the most any carries. */
async function overlays(fs: Filesystem, path: string): Promise<{ blocks: number; most: number; subs: number }> {
  const v = await fs.resolve(path);
  let blocks = 0, most = 0, subs = 0;
  for await (const [, val] of v.map.scan()) {
    const mv = decodeMapValue(val, fs.ds.subsPerBlock);
    if (mv.subs.length) blocks++;
    subs += mv.subs.length;
    most = Math.max(most, mv.subs.length);
  }
  return { blocks, most, subs };
}

const fill = (len: number, seedByte: number): Buffer => {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((seedByte * 2654435761 + i * 40503) >>> 11) & 0xff;
  return b;
};

/** A datastore with /v holding `blocks` committed blocks of fill(…, seedByte); `model` is its content. */
async function storedFile(blocks: number, seedByte: number, opts = DEFAULTS) {
  const { ds, fs } = await memDatastore(opts);
  const bs = ds.blockSize, model = fill(blocks * bs, seedByte);
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.write(fh, 0, model);
  await fs.txg.sync();
  return { ds, fs, bs, fh, model };
}

t.test('aligned 4 KiB writes become sub-block records; reads see them; the rest is never read', async (t) => {
  const { ds, fs, bs, fh, model } = await storedFile(8, 1);
  const before = ds.readAhead.fetches;
  const piece = fill(S, 2);
  await fs.write(fh, bs + 2 * S, piece); piece.copy(model, bs + 2 * S);
  await fs.write(fh, 3 * bs, piece); piece.copy(model, 3 * bs);
  await fs.txg.sync();
  t.same(await overlays(fs, '/v'), { blocks: 2, most: 1, subs: 2 }, 'two blocks carry one sub-block each');
  t.equal(ds.readAhead.fetches, before, 'nothing was read to write them');
  const v = await fs.resolve('/v');
  t.equal(v.attrs.logical, 8 * bs + 2 * S, 'logical bytes count the sub-block records');
  t.ok((await fs.read(fh, bs + 2 * S, S)).equals(piece), 'a read inside the sub-block');
  t.ok((await fs.read(fh, 0, 8 * bs)).equals(model), 'the whole file');
  fs.release(fh);
});

for (const [what, blockSize, version, max] of [['64 KiB blocks (v6)', 64 * 1024, 6, LIMITS.OVERLAY_MAX_SUBS], ['a v5 datastore', 32 * 1024, 5, V5_MAX_SUBS]] as const) {
  t.test(`${what}: a block takes at most ${max} sub-blocks, then is rewritten whole`, async (t) => {
    const { ds, fs, bs, fh, model } = await storedFile(1, 3, { ...DEFAULTS, blockSize });
    (ds.sb as { version: number }).version = version;
    t.equal(ds.maxSubs, max);
    for (let i = 0; i < bs / S; i++) {
      const piece = fill(S, 10 + i);
      await fs.write(fh, i * S, piece); piece.copy(model, i * S);
      await fs.txg.sync();
      const o = await overlays(fs, '/v');
      t.ok(o.most <= max, `after ${i + 1} writes: ${o.most} sub-blocks`);
      t.ok((await fs.read(fh, 0, bs)).equals(model), `content after ${i + 1} writes`);
    }
    t.equal((await overlays(fs, '/v')).most, (bs / S) % (max + 1), 'folded whenever the limit was passed');
    t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
    fs.release(fh);
  });
}

t.test('v6: a block with every sub-block written lets its base go, and never folds', async (t) => {
  const { ds, fs, bs, fh, model } = await storedFile(2, 4);
  t.equal(ds.maxSubs, bs / S, 'all of a 32 KiB block\'s sub-blocks');
  const usedBefore = ds.space.usedBytes();
  for (const i of [5, 0, 7, 2, 6, 1, 4, 3]) {
    const piece = fill(S, 20 + i);
    await fs.write(fh, bs + i * S, piece); piece.copy(model, bs + i * S);
    await fs.txg.sync();
  }
  const v = await fs.resolve('/v');
  const val = await v.map.get(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]), v.map.root);
  const mv = decodeMapValue(val!, ds.subsPerBlock);
  t.equal(mv.subs.length, bs / S, 'eight sub-blocks');
  t.equal(presentPtrs(mv).length, bs / S, 'the base is a zero extent');
  t.equal(ds.written.blocks, 2, 'no block was rewritten whole');
  t.equal(v.attrs.logical, 2 * bs, 'logical bytes: the other block and eight sub-blocks');
  let stored = 0;
  for await (const [, x] of v.map.scan()) for (const p of presentPtrs(decodeMapValue(x, ds.subsPerBlock))) stored += p.len;
  t.equal(v.attrs.stored, stored, 'stored bytes: the records the map names');
  t.ok((await fs.read(fh, 0, 2 * bs)).equals(model), 'content');
  t.ok((await fs.read(fh, bs + 3 * S, S)).equals(model.subarray(bs + 3 * S, bs + 4 * S)), 'a read of one sub-block');
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  t.ok(ds.space.usedBytes() - usedBefore < bs, 'the base\'s bytes were freed');
  t.same((await verify(fs, '/v')).alarms, [], 'verify clean');
  fs.release(fh);
});

t.test('the cleaner moves a sub-block record as one, and folds a block that is all sub-blocks into one record', async (t) => {
  const { target, ds, fs } = await memDatastore({ blockSize: 32 * 1024, segmentSize: 256 * 1024 });
  target.available = async () => 0; // no room to grow: the cleaner works whenever free segments run short
  const bs = ds.blockSize, model = fill(64 * bs, 7);
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  const put = async (off: number, data: Buffer) => { await fs.write(fh, off, data); data.copy(model, off); };
  await put(0, Buffer.from(model));
  await fs.txg.sync();
  for (let lbn = 0; lbn < 64; lbn++) await put(lbn * bs, fill(S, 100 + lbn)); // sub-block 0 of every block
  await fs.txg.sync();
  for (let lbn = 32; lbn < 48; lbn++) for (let i = 1; i < bs / S; i++) await put(lbn * bs + i * S, fill(S, lbn + i)); // blocks 32..47: all sub-blocks
  await fs.txg.sync();
  for (let lbn = 0; lbn < 32; lbn++) await put(lbn * bs, fill(S, 200 + lbn)); // half of the first sub-blocks again: their segment is half live
  await fs.txg.sync();
  const churn = fs.addHandle(await fs.create('/churn', 0o644, ROOT));
  for (let round = 0; round < 60 && !(fs.cleaner.stats.subBlocksMoved && fs.cleaner.stats.blocksFolded); round++) {
    await fs.write(churn, 0, fill(32 * bs, round));
    await fs.txg.sync();
  }
  t.ok(fs.cleaner.stats.subBlocksMoved > 0, `sub-block records moved as such (${JSON.stringify(fs.cleaner.stats)})`);
  t.ok(fs.cleaner.stats.blocksFolded > 0, 'blocks folded');
  const o = await overlays(fs, '/v');
  t.ok(o.most < bs / S, `no block is left all sub-blocks once its records moved (most ${o.most})`);
  t.ok((await fs.read(fh, 0, 64 * bs)).equals(model), 'content');
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  t.same((await verify(fs, null)).alarms, [], 'verify clean');
  fs.release(fh); fs.release(churn);
});

t.test('a cut inside a block written as sub-blocks drops the stored bytes past the cut', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.write(fh, 0, fill(2 * bs, 6));
  await fs.txg.sync();
  const piece = fill(S, 7);
  await fs.write(fh, bs, piece); // block 1 partly written: sub-block 0
  await fs.truncate(null, fh, bs + S / 2);
  await fs.truncate(null, fh, 2 * bs);
  await fs.txg.sync();
  const want = Buffer.concat([fill(2 * bs, 6).subarray(0, bs), piece.subarray(0, S / 2), Buffer.alloc(bs - S / 2)]);
  t.ok((await readWhole(fs, '/v')).equals(want), 'zeros from the cut on');
  fs.release(fh);
});

t.test('a cut on the boundary after a partly written block keeps its stored bytes', async (t) => {
  const { fs, bs, fh, model } = await storedFile(8, 8);
  const piece = fill(S, 11); // a whole sub-block: the rest of block 3 is never fetched in the background
  await fs.write(fh, 3 * bs + 2 * S, piece); piece.copy(model, 3 * bs + 2 * S);
  await fs.truncate(null, fh, 4 * bs);
  t.ok((await readWhole(fs, '/v')).equals(model.subarray(0, 4 * bs)), 'before the commit');
  await fs.txg.sync();
  t.ok((await readWhole(fs, '/v')).equals(model.subarray(0, 4 * bs)), 'after it');
  fs.release(fh);
});

t.test('a read during a commit fills a block written as sub-blocks from the map as frozen', async (t) => {
  const { ds, fs, bs, fh, model } = await storedFile(4, 9);
  const piece = fill(S, 10);
  await fs.write(fh, bs + 2 * S, piece); piece.copy(model, bs + 2 * S);
  // The snapshot tree's batch runs after the file maps are published and before the records are written.
  const batch = ds.snapTree.batch.bind(ds.snapTree);
  const seen: { during?: Buffer | Error } = {};
  ds.snapTree.batch = async (fn) => {
    seen.during ??= await fs.read(fh, bs, bs).catch((e: Error) => e);
    return batch(fn);
  };
  await fs.txg.sync();
  const d = seen.during;
  t.ok(Buffer.isBuffer(d) && d.equals(model.subarray(bs, 2 * bs)), `read during the commit: ${d instanceof Error ? d.message : d ? 'bytes' : 'not reached'}`);
  t.ok((await readWhole(fs, '/v')).equals(model), 'after it');
  fs.release(fh);
});

t.test('sub-blocks over an unwritten block read zeros around them; truncation drops them', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  const piece = fill(S, 4);
  await fs.truncate(null, fh, 4 * bs + 2 * S); // sparse: block 4 is inside the file, unmapped
  await fs.write(fh, 4 * bs + S, piece);
  await fs.txg.sync();
  t.equal((await overlays(fs, '/v')).blocks, 1, 'a sub-block over a zero base');
  const want = Buffer.alloc(4 * bs + 2 * S); piece.copy(want, 4 * bs + S);
  t.ok((await readWhole(fs, '/v')).equals(want), 'zeros around it');
  await fs.truncate(null, fh, 4 * bs + S + 100);
  await fs.txg.sync();
  t.ok((await readWhole(fs, '/v')).equals(want.subarray(0, 4 * bs + S + 100)), 'cut inside the sub-block');
  await fs.truncate(null, fh, 4 * bs);
  await fs.write(fh, 4 * bs + 2 * S, piece);
  await fs.txg.sync();
  const again = Buffer.alloc(4 * bs + 3 * S); piece.copy(again, 4 * bs + 2 * S);
  t.ok((await readWhole(fs, '/v')).equals(again), 'the dropped sub-block does not come back');
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  fs.release(fh);
});

for (let round = 0; round < ROUNDS; round++) {
  t.test(`a seeded mix against a byte model (round ${round})`, async (t) => {
    const seed = seedFromEnv() + round;
    t.comment(`seed ${seed}`);
    const rand = rng(seed);
    // Small segments and a small file so that the cleaner runs and moves sub-block records.
    const { target, ds, fs } = await memDatastore({ blockSize: 32 * 1024, segmentSize: 256 * 1024 });
    const bs = ds.blockSize, size = 4 * MiB;
    let model = fill(size, 5);
    const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
    await fs.write(fh, 0, model);
    await fs.txg.sync();
    const snaps: { name: string; data: Buffer }[] = [];
    let most = 0, sawSubs = false;
    for (let step = 0; step < 3000; step++) {
      const r = rand();
      const len = model.length;
      if (r < 0.6) { // 1 or 2 aligned sub-blocks
        const n = 1 + Math.floor(rand() * 2), off = Math.floor(rand() * (len / S - n)) * S;
        const piece = fill(n * S, step);
        await fs.write(fh, off, piece); piece.copy(model, off);
      } else if (r < 0.75) { // unaligned
        const n = 1 + Math.floor(rand() * 6000), off = Math.floor(rand() * (len - n));
        const piece = fill(n, step);
        await fs.write(fh, off, piece); piece.copy(model, off);
      } else if (r < 0.85) { // whole blocks
        const off = Math.floor(rand() * (len / bs - 1)) * bs, piece = fill(bs, step);
        await fs.write(fh, off, piece); piece.copy(model, off);
      } else if (r < 0.87) { // truncate, then grow again with zeros
        const to = Math.floor(rand() * len);
        await fs.truncate(null, fh, to);
        model = Buffer.concat([model.subarray(0, to), Buffer.alloc(size - to)]);
        await fs.truncate(null, fh, size);
      } else if (r < 0.88 && snaps.length < 4) {
        const name = `s${step}`;
        await fs.snapshots.create('/v', name);
        snaps.push({ name, data: Buffer.from(model) });
      } else if (r < 0.885 && snaps.length) {
        const s = snaps[Math.floor(rand() * snaps.length)];
        await restoreFile(fs, '/v', s.name, () => undefined);
        model = Buffer.from(s.data);
      } else if (r < 0.89 && snaps.length) {
        const s = snaps.splice(Math.floor(rand() * snaps.length), 1)[0];
        await fs.snapshots.delete('/v', s.name);
      } else if (r < 0.95) {
        await fs.txg.sync();
        const o = await overlays(fs, '/v');
        most = Math.max(most, o.most); sawSubs ||= o.subs > 0;
      } else {
        const off = Math.floor(rand() * (len - 3 * S)), n = 1 + Math.floor(rand() * 3 * S);
        if (!(await fs.read(fh, off, n)).equals(model.subarray(off, off + n))) { t.fail(`read at ${off}+${n}, step ${step} (seed ${seed})`); return; }
      }
    }
    await fs.txg.sync();
    t.ok(sawSubs, 'sub-block records were written');
    t.ok(most <= LIMITS.OVERLAY_MAX_SUBS, `at most ${most} sub-blocks on a block`);
    const { segmentsCleaned, subBlocksMoved, blocksFolded } = fs.cleaner.stats;
    t.ok(segmentsCleaned > 0 && subBlocksMoved + blocksFolded > 0, `the cleaner ran and moved or folded sub-block records (${JSON.stringify(fs.cleaner.stats)})`);
    t.ok((await readWhole(fs, '/v')).equals(model), `content = the model (seed ${seed})`);
    for (const s of snaps) t.ok((await readWhole(fs, `/.snapshots/v/${s.name}`)).equals(s.data), `snapshot ${s.name} reads as taken`);
    t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
    t.same((await verify(fs, null)).alarms, [], 'the verifier raises no alarm');
    fs.release(fh);
    await fs.close();
    const again = (await reopen(target, 256 * 1024)).fs;
    t.ok((await readWhole(again, '/v')).equals(model), 'content = the model after a reopen');
    await again.unlink('/v');
    for (const s of snaps) await again.snapshots.delete('/v', s.name).catch(() => undefined);
    await again.txg.sync();
    const left = await recountSpace(again.ds);
    t.same(left.mismatches, [], 'space recount exact after deleting the file');
  });
}

t.test('a v4 datastore writes no sub-blocks and still reads', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  (ds.sb as { version: number }).version = 4;
  t.notOk(ds.subBlocks, 'sub-blocks off for v4');
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.write(fh, 0, fill(ds.blockSize, 1));
  await fs.txg.sync();
  await fs.write(fh, S, fill(S, 2));
  await fs.txg.sync();
  t.equal((await overlays(fs, '/v')).subs, 0, 'the block was rewritten whole');
  const v = await fs.resolve('/v');
  for await (const [, val] of v.map.scan()) t.equal(presentPtrs(decodeMapValue(val)).length, 1);
  fs.release(fh);
});
