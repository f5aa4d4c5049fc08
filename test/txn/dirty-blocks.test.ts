// Reused dirty blocks: a block given back after its commit is taken again (zeroed when asked),
// a block lent to a reader or not made by a pool never is, a block given back twice is taken
// once, and the pool keeps no more than its limit. Then through a filesystem, with a seed:
// writes and commits reuse blocks, while reads held across commits (as a READ reply being
// written is) keep their bytes and every read gives the file's bytes.
import t from 'tap';
import { DirtyBlocks, lent } from '../../src/txn/dirty-blocks.js';
import { framedBuffer } from '../../src/codec/record.js';
import { block, memDatastore, rng, ROOT, seedFromEnv, SMALL } from '../helpers/mem.js';

t.test('blocks come back once, unless lent or made elsewhere, up to the limit', async (t) => {
  const bs = 4096, pool = new DirtyBlocks(bs, 3 * bs);
  const [a, b, c, d] = [pool.take(false), pool.take(false), pool.take(true), pool.take(false)];
  t.ok(c.equals(Buffer.alloc(bs)), 'a zeroed block is zeros');
  a.fill(7);
  lent(b);
  pool.recycle([a, a, b, framedBuffer(bs)]);
  t.equal(pool.take(true), a, 'the given-back block is taken again');
  t.ok(a.equals(Buffer.alloc(bs)), 'zeroed when asked');
  t.not(pool.take(false), b, 'a lent block is not (and a block given twice was taken in once)');
  t.same(pool.counters, { fresh: 5, reused: 1 });
  pool.recycle([c, d]);
  const e = pool.take(false), f = pool.take(false);
  pool.recycle([e, f, pool.take(false), pool.take(false)]);
  t.equal(pool.counters.reused, 3, 'c and d came back');
  const kept = [pool.take(false), pool.take(false), pool.take(false), pool.take(false)];
  t.equal(pool.counters.reused, 6, 'three kept at most (the limit), the fourth is fresh');
  t.equal(new Set(kept).size, 4, 'no block is handed out twice');
});

t.test('through a filesystem: commits reuse blocks, held reads keep their bytes', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  const rand = rng(seed);
  const bs = SMALL.blockSize, blocks = 64, size = blocks * bs;
  const { fs } = await memDatastore();
  t.teardown(() => fs.close());
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  const model = Buffer.alloc(size);
  const held: { pieces: Buffer[]; want: Buffer; off: number }[] = [];
  let gen = 1, failures = 0, changed = 0, end = 0; // end: the file's size
  for (let round = 0; round < 60; round++) {
    for (let i = 0; i < 24; i++) {
      const lbn = Math.floor(rand() * blocks), whole = rand() < 0.5;
      const b = whole ? block(bs, lbn, gen++) : block(bs, lbn, gen++).subarray(0, 512 + Math.floor(rand() * 3000));
      const at = lbn * bs + (whole ? 0 : Math.floor(rand() * (bs - b.length)));
      await fs.write(fh, at, b);
      b.copy(model, at);
      end = Math.max(end, at + b.length);
    }
    // a commit starts; reads that come while it runs may get blocks of its frozen txg
    const commit = fs.txg.sync();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 4; i++) {
      const off = Math.floor(rand() * blocks) * bs, len = (1 + Math.floor(rand() * 3)) * bs;
      const pieces = await fs.readv(fh, off, len);
      const want = Buffer.from(model.subarray(off, Math.max(off, Math.min(end, off + len))));
      if (!Buffer.concat(pieces).equals(want)) failures++;
      held.push({ pieces, want, off });
    }
    await commit;
    while (held.length > 20) {
      const h = held.shift()!;
      if (!Buffer.concat(h.pieces).equals(h.want)) changed++;
      fs.replied(h.pieces);
    }
  }
  t.equal(failures, 0, `seed ${seed}: every read gave the file's bytes`);
  t.equal(changed, 0, `seed ${seed}: reads held across commits kept their bytes`);
  t.ok(fs.writes.blocks.counters.reused > 200, `seed ${seed}: later writes reused blocks (${fs.writes.blocks.counters.reused})`);
});
