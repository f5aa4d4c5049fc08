// Sequential read-ahead: the window plan on its own, then through an in-memory filesystem:
// sequential reads are served from records fetched ahead and read the written bytes; a block
// rewritten after it was fetched ahead reads its new content (committed or still dirty); random
// reads fetch nothing; large reads two at a time are read from the layout in runs, not by block.
import t from 'tap';
import { noReadAhead, planReadAhead } from '../../src/fs/read-ahead.js';
import { LIMITS } from '../../src/limits.js';
import { block, memDatastore, reopen, ROOT, SMALL } from '../helpers/mem.js';
import { decodePtr } from '../../src/format/ptr.js';

const W = LIMITS.READ_AHEAD_BYTES;

/** A file of `blocks` blocks written and committed a window at a time, reopened: its handle, and a count of the layout's reads of records. */
async function storedFile(bs: number, blocks: number) {
  const m = await memDatastore();
  const fh = m.fs.addHandle(await m.fs.create('/v', 0o644, ROOT));
  for (let i = 0; i < blocks; i++) { await m.fs.write(fh, i * bs, block(bs, i, 1)); if ((i + 1) % (W / bs) === 0) await m.fs.fsync(); }
  await m.fs.fsync();
  const { ds, fs } = await reopen(m.target);
  const h = await fs.open('/v', true);
  let reads = 0;
  const readSeg = ds.layout.readSeg.bind(ds.layout);
  ds.layout.readSeg = (seg, off, len, verify) => { if (verify === false) reads++; return readSeg(seg, off, len, verify); };
  return { ds, fs, h, dataReads: () => reads };
}

t.test('the plan: first read none, continuing reads extend the window, a jump resets it', async (t) => {
  const bs = 4096, size = 64 * W;
  const s = noReadAhead();
  t.equal(planReadAhead(s, 0, 4096, size, bs), null, 'the first read is not yet sequential');
  t.same(planReadAhead(s, 4096, 4096, size, bs), [2, (8192 + W) / bs], 'the second fetches a window past its end');
  t.equal(planReadAhead(s, 8192, 4096, size, bs), null, 'the next, with more than half a window ahead, fetches nothing');
  const half = W / 2 + 8192; // a read ending past here leaves less than half a window fetched ahead
  let early = 0;
  for (let off = 12288; off < half; off += 4096) if (planReadAhead(s, off, 4096, size, bs)) early++;
  t.equal(early, 0, 'reads on to half a window fetch nothing more');
  t.same(planReadAhead(s, half, 4096, size, bs), [(8192 + W) / bs, (half + 4096 + W) / bs], 'then the window is refilled in one step');
  t.equal(planReadAhead(s, half + 4096 + W + 4096 * 3, 4096, size, bs), null, 'a jump past the window is random');
  t.equal(s.ahead, 0, 'and resets the window');
  const e = noReadAhead();
  planReadAhead(e, size - 3 * bs, bs, size, bs);
  t.same(planReadAhead(e, size - 2 * bs, bs, size, bs), [size / bs - 1, size / bs], 'never past the end of the file');
  t.equal(planReadAhead(e, size - bs, bs, size, bs), null, 'and nothing once there');
  const back = noReadAhead();
  planReadAhead(back, 65536, 4096, size, bs);
  t.ok(planReadAhead(back, 61440, 4096, size, bs), 'a request a little behind the last (the kernel reorders) is still sequential');
  const far = noReadAhead();
  planReadAhead(far, 0, 4096, size, bs);
  t.equal(planReadAhead(far, 4096 + LIMITS.READ_AHEAD_SEQ_SLACK_BYTES + 4096, 4096, size, bs), null, 'a small read farther than the slack is random, even inside the window');
  const big = noReadAhead();
  planReadAhead(big, 0, 1 << 20, size, bs);
  t.ok(planReadAhead(big, 2 << 20, 1 << 20, size, bs), 'a large read one request ahead (arrived out of order) is sequential');
});

t.test('through a filesystem: hits, the written bytes, rewritten blocks read new', async (t) => {
  const bs = SMALL.blockSize, blocks = (4 * W) / bs + 16;
  const m = await memDatastore();
  const fh = m.fs.addHandle(await m.fs.create('/v', 0o644, ROOT));
  for (let i = 0; i < blocks; i++) await m.fs.write(fh, i * bs, block(bs, i, 1));
  await m.fs.fsync();
  const { ds, fs } = await reopen(m.target);
  const h = await fs.open('/v', true);
  let wrong = 0;
  for (let i = 0; i < blocks / 2; i++) if (!(await fs.read(h, i * bs, bs)).equals(block(bs, i, 1))) wrong++;
  t.equal(wrong, 0, 'sequential reads give the written bytes');
  t.ok(ds.readAhead.fetches > blocks / 4, `fetched ahead: ${ds.readAhead.fetches}`);
  t.ok(ds.readAhead.hits >= 0.95 * (blocks / 2), `served from what was fetched: ${ds.readAhead.hits} of ${blocks / 2} reads`);

  // blocks past here were fetched ahead; rewrite one and commit, rewrite another and leave it dirty
  const next = blocks / 2;
  await fs.write(h, (next + 1) * bs, block(bs, next + 1, 2));
  await fs.fsync();
  await fs.write(h, (next + 2) * bs, block(bs, next + 2, 3));
  for (let i = next; i < next + 4; i++) {
    const v = i === next + 1 ? 2 : i === next + 2 ? 3 : 1;
    t.ok((await fs.read(h, i * bs, bs)).equals(block(bs, i, v)), `block ${i} reads version ${v}`);
  }

  const fetches = ds.readAhead.fetches;
  for (const i of [0, 1100, 10, 1900, 600]) await fs.read(h, i * bs, bs); // each more than a window from the last
  t.equal(ds.readAhead.fetches, fetches, 'random reads fetch nothing ahead');
});

t.test('large sequential reads, two in flight (as the kernel sends them), read the layout in long runs', async (t) => {
  const bs = SMALL.blockSize, req = 256 * 1024, blocks = (8 * W) / bs;
  const { ds, fs, h, dataReads } = await storedFile(bs, blocks);
  let wrong = 0;
  for (let off = 0; off < blocks * bs; off += 2 * req) {
    const got = await Promise.all([fs.read(h, off, req), fs.read(h, off + req, req)]);
    got.forEach((b, j) => { for (let i = 0; i < req / bs; i++) if (!b.subarray(i * bs, (i + 1) * bs).equals(block(bs, (off + j * req) / bs + i, 1))) wrong++; });
  }
  t.equal(wrong, 0, 'every block reads as written');
  // a run of records stays inside a segment: the fewest reads there can be is one per segment the file spans
  const segs = new Set<number>();
  for await (const [, val] of (await fs.resolve('/v')).map.scan()) segs.add(decodePtr(val).seg);
  t.ok(dataReads() <= 2 * segs.size, `${dataReads()} layout reads of records for ${blocks} blocks in ${segs.size} segments, not one per block`);
});

t.test('sixteen large reads in flight in any order (libaio at depth 16) read every record once, in runs', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  t.comment(`seed ${seed}`);
  let x = seed || 1;
  const rand = (n: number) => { x = (x * 48271) % 2147483647; return x % n; };
  const bs = SMALL.blockSize, req = 256 * 1024, depth = 16, blocks = (4 * depth * req) / bs;
  const { ds, fs, h, dataReads } = await storedFile(bs, blocks);
  let wrong = 0;
  for (let off = 0; off < blocks * bs; off += depth * req) {
    const order = Array.from({ length: depth }, (_, i) => i);
    for (let i = depth - 1; i > 0; i--) { const j = rand(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
    await Promise.all(order.map(async (j) => {
      const at = off + j * req, b = await fs.read(h, at, req);
      for (let i = 0; i < req / bs; i++) if (!b.subarray(i * bs, (i + 1) * bs).equals(block(bs, at / bs + i, 1))) wrong++;
    }));
  }
  t.equal(wrong, 0, `every block reads as written (seed ${seed})`);
  t.equal(ds.readAhead.dropped, 0, 'no record fetched ahead is dropped before its reader takes it');
  t.equal(ds.readAhead.hits, blocks, 'every block is served from a fetch (none read on its own)');
  t.ok(ds.readAhead.fetches <= blocks + W / bs, `each record fetched once (${ds.readAhead.fetches} for ${blocks}, plus at most a window past the end)`);
  const segs = new Set<number>();
  for await (const [, val] of (await fs.resolve('/v')).map.scan()) segs.add(decodePtr(val).seg);
  t.ok(dataReads() <= 2 * segs.size + blocks / (req / bs) / depth, `${dataReads()} layout reads of records for ${blocks} blocks in ${segs.size} segments, seed ${seed}`);
});
