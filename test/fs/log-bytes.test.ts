// The open txg's estimated log bytes and dirty memory (fs/log-bytes.ts restate); the cleaner paces writers on the first: a
// 4 KiB aligned write costs a sub-block record, not a block; the estimate follows a block from
// sub-blocks to whole, through truncation, unlink and freeze; and for a seeded mix of writes it is
// never below what the commit then writes (plain, and compressed + sealed).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Compress } from '../../src/codec/compress.js';
import { blockLogBytes, RECORD_MAX_OVERHEAD } from '../../src/fs/log-bytes.js';
import { LIMITS } from '../../src/limits.js';
import { DEFAULTS, memDatastore, ROOT, rng, seedFromEnv } from '../helpers/mem.js';

const S = LIMITS.SUB_BYTES;
/** What a commit writes besides its files' blocks and map leaves: inode and directory nodes, summaries, the commit record. */
const PER_COMMIT_BYTES = 64 * 1024;

t.test('an aligned 4 KiB write is counted as one sub-block record, and the estimate follows the block', async (t) => {
  const { ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, one = blockLogBytes(ds, 1), whole = blockLogBytes(ds, 0);
  t.ok(one < whole / 2, `one sub-block (${one} B) is under half a whole block's estimate (${whole} B)`);
  t.equal(whole, bs + RECORD_MAX_OVERHEAD + LIMITS.LOG_NODE_BYTES_PER_BLOCK, 'a whole block: its record at its largest and its leaf allowance');
  const v = await fs.create('/v', 0o644, ROOT), fh = fs.addHandle(v);
  await fs.write(fh, 0, randomBytes(8 * bs));
  await fs.txg.sync();
  t.equal(fs.logBytes(), 0, 'nothing open after a commit');
  for (let b = 0; b < 4; b++) await fs.write(fh, b * bs + S, randomBytes(S));
  t.equal(fs.logBytes(), 4 * one, 'four blocks with one sub-block written each');
  t.equal(fs.dirtyBytes(), 4 * bs, 'each holding a whole block of memory');
  await fs.write(fh, 3 * S, randomBytes(S));
  t.equal(fs.logBytes(), 3 * one + blockLogBytes(ds, 2), 'a second sub-block of block 0');
  await fs.write(fh, bs + 100, Buffer.alloc(10, 7));
  t.equal(fs.logBytes(), 2 * one + blockLogBytes(ds, 2) + whole, 'an unaligned write makes block 1 whole');
  await fs.write(fh, 2 * bs, randomBytes(bs));
  t.equal(fs.logBytes(), one + blockLogBytes(ds, 2) + 2 * whole, 'a whole-block write over block 2');
  await fs.write(fh, 5 * bs, randomBytes(S * (ds.subsPerBlock - 1)));
  await fs.write(fh, 5 * bs + S * (ds.subsPerBlock - 1), randomBytes(S));
  t.equal(fs.logBytes(), one + blockLogBytes(ds, 2) + 3 * whole, 'every sub-block of block 5 written: one whole block');
  t.equal(fs.dirtyBytes(), 5 * bs, 'five blocks in memory');
  await fs.truncate('/v', null, 2 * bs + 10);
  t.equal(fs.logBytes(), blockLogBytes(ds, 2) + 2 * whole, 'a truncation drops blocks 3 and 5 and makes the cut block 2 whole');
  await fs.truncate('/v', null, 2 * bs);
  t.equal(fs.logBytes(), blockLogBytes(ds, 2) + whole, 'a cut on a block boundary drops block 2 and leaves the rest as they were');
  t.equal(fs.dirtyBytes(), 2 * bs, 'two blocks left in memory');
  fs.release(fh);
  await fs.unlink('/v');
  t.equal(fs.logBytes(), 0, 'an unlinked file\'s open blocks are no longer counted');
  t.equal(fs.dirtyBytes(), 0, 'nor their memory');
  const w = fs.addHandle(await fs.create('/w', 0o644, ROOT));
  await fs.write(w, 0, randomBytes(S));
  t.ok(fs.logBytes() > 0, 'a new file counts');
  await fs.txg.sync();
  t.equal(fs.logBytes(), 0, 'and a freeze takes it');
  fs.release(w);
});

for (const [name, opts] of [['plain', {}], ['compressed + sealed', { policy: { compress: Compress.Deflate, level: 1, encrypt: true }, key: randomBytes(32) }]] as const) {
  t.test(`${name}: the estimate is never below what the commit writes, for a seeded mix of writes`, async (t) => {
    const seed = seedFromEnv();
    const r = rng(seed);
    const { ds, fs } = await memDatastore({ ...DEFAULTS, ...opts });
    const bs = ds.blockSize, blocks = 256;
    const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
    await fs.write(fh, 0, randomBytes(blocks * bs));
    await fs.txg.sync();
    let worst = -Infinity, tightest = 0;
    for (let round = 0; round < 12; round++) {
      const ops = 1 + Math.floor(r() * 300);
      for (let i = 0; i < ops; i++) {
        const kind = r(), lbn = Math.floor(r() * blocks);
        if (kind < 0.6) await fs.write(fh, lbn * bs + Math.floor(r() * ds.subsPerBlock) * S, randomBytes(S));
        else if (kind < 0.8) await fs.write(fh, lbn * bs + Math.floor(r() * bs), randomBytes(1 + Math.floor(r() * 9000)));
        else if (kind < 0.95) await fs.write(fh, lbn * bs, randomBytes(bs));
        else await fs.write(fh, (blocks - 1) * bs, Buffer.alloc(S)); // the last block, often
      }
      const est = fs.logBytes(), movedBefore = fs.cleaner.stats.bytesMoved;
      await fs.txg.sync();
      const wrote = ds.lastCommit!.bytes - (fs.cleaner.stats.bytesMoved - movedBefore); // what the cleaner moves in is counted apart
      worst = Math.max(worst, wrote - est);
      tightest = Math.max(tightest, wrote / est);
      if (wrote > est + PER_COMMIT_BYTES) { t.fail(`seed ${seed} round ${round}: the commit wrote ${wrote} B, the estimate was ${est} B`); return; }
    }
    t.pass(`estimate less commit bytes: at least ${-worst} B; commit / estimate at most ${tightest.toFixed(2)} (allowed: ${PER_COMMIT_BYTES} B over, per commit)`);
    fs.release(fh);
  });
}
