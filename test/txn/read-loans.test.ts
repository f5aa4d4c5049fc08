// Reused read buffers: a loan's buffer goes back to the pool only once its opener released it,
// no record of it is cached, and every handout came back; a handout coming back twice is an
// invariant failure. Then through a filesystem on files, single and ec:2+1 (whose large reads
// are scattered straight into loaned buffers), with a seed: reads whose pieces are held (as a
// READ reply being written is) keep their bytes while thousands of later reads reuse buffers,
// and buffers are reused.
import t from 'tap';
import { ReadLoans } from '../../src/txn/read-loans.js';
import { RecordCache } from '../../src/txn/record-cache.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initChecksum } from '../../src/codec/checksum.js';
import { SingleLayout } from '../../src/backing/layout.js';
import { parseSpread, SpreadLayout } from '../../src/backing/spread.js';
import { FileTarget, fileSource } from '../../src/backing/target.js';
import { Datastore } from '../../src/txn/datastore.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { block, rng, ROOT, seedFromEnv, SMALL } from '../helpers/mem.js';

t.test('a buffer goes back only when the opener, the cache and every handout are done with it', async (t) => {
  const loans = new ReadLoans();
  const a = loans.open(1000);
  t.ok(a.buf.length >= 1000, 'at least the bytes asked for');
  const rec = a.buf.subarray(10, 20);
  loans.handOut(rec);
  loans.handOut(Buffer.alloc(10)); // not a loan's: not counted
  loans.release(a);
  t.equal(loans.counters.back, 0, 'a handout is out: the buffer stays lent');
  t.not(loans.open(1000).buf, a.buf, 'and is not lent again');
  loans.returned([rec.subarray(2, 5), Buffer.alloc(3)]);
  t.equal(loans.counters.back, 1, 'back once the handout came back');
  const b = loans.open(1000);
  t.equal(b.buf, a.buf, 'the buffer is lent again');
  t.equal(loans.counters.reused, 1);
  loans.hold(b);
  loans.release(b);
  t.equal(loans.counters.back, 1, 'still held once');
  loans.release(b);
  t.equal(loans.counters.back, 2);
  t.throws(() => loans.release(b), /released twice/);
  const d = loans.open(10);
  loans.handOut(d.buf);
  loans.returned([d.buf]);
  t.throws(() => loans.returned([d.buf]), /came back more often/, 'a handout coming back twice is refused');
});

t.test('the read-ahead cache holds a run\'s loan per record, and a take counts as a handout', async (t) => {
  const loans = new ReadLoans();
  const c = new RecordCache(2, Infinity, loans);
  const l = loans.open(64);
  const run = { bytes: 64, held: 0, loan: l };
  c.fetch('a', async () => l.buf.subarray(0, 32), run);
  c.fetch('b', async () => Buffer.from('a decoded copy'), run);
  loans.release(l); // the opener's read is over
  const a = await c.take('a');
  const b = await c.take('b');
  t.equal(l.out, 1, 'the slice taken is out; the copy was not counted');
  c.fetch('c', async () => Buffer.alloc(1));
  c.fetch('d', async () => Buffer.alloc(1));
  t.notOk(c.has('a') || c.has('b'), 'both records left the cache');
  t.equal(loans.counters.back, 0, 'the slice taken still holds the buffer');
  loans.returned([a!, b!]);
  t.equal(loans.counters.back, 1, 'back when it came back');
});

/** A datastore of bs-byte blocks holding `size` bytes of /v, committed and reopened with a small read-ahead cache (runs come and go). */
async function storedFile(layout: 'single' | 'ec:2+1', bs: number, size: number, model: Buffer, dir: string) {
  const seg = 1024 * 1024; // segments hold runs of 32 stripes and more (ec:2+1: 256 KiB)
  await initChecksum();
  const paths = ['a', 'b', 'c'].map((x) => join(dir, x));
  const make = async () => (layout === 'single'
    ? new SingleLayout(await FileTarget.open(join(dir, 'single'), true), seg)
    : SpreadLayout.mkfs(parseSpread(layout)!, paths, fileSource, seg, 4096, { probe: false }));
  const open = async () => (layout === 'single'
    ? new SingleLayout(await FileTarget.open(join(dir, 'single'), false), seg)
    : SpreadLayout.open(paths[0], fileSource, { probe: false }));
  const ds0 = await Datastore.mkfs(await make(), { blockSize: bs, segmentSize: seg });
  const fs0 = new Filesystem(ds0);
  await fs0.recover();
  const fh0 = fs0.addHandle(await fs0.create('/v', 0o644, ROOT));
  for (let i = 0; i < size / bs; i++) { const b = block(bs, i, 1); await fs0.write(fh0, i * bs, b); b.copy(model, i * bs); }
  await fs0.close();
  const ds = await Datastore.open(await open(), { readAheadBytes: 16 * SMALL.blockSize });
  const fs = new Filesystem(ds);
  await fs.recover();
  return { ds, fs };
}

// 4 KiB blocks written whole, on both layouts; and 32 KiB blocks written 4 KiB at a time, whose
// sub-block records a read lays over the block in a buffer handed to it.
for (const [layout, bs] of [['single', SMALL.blockSize], ['ec:2+1', SMALL.blockSize], ['single', 32 * 1024]] as const) {
  t.test(`${layout}, ${bs / 1024} KiB blocks: held reads keep their bytes while later reads reuse buffers`, async (t) => {
    const seed = seedFromEnv();
    t.comment(`seed ${seed}`);
    const rand = rng(seed);
    const wb = SMALL.blockSize, size = 160 * wb, blocks = size / wb; // written in 4 KiB pieces
    const dir = await mkdtemp(join(tmpdir(), 'vdfs-loans-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const model = Buffer.alloc(size);
    const { ds, fs } = await storedFile(layout, bs, size, model, dir);
    const fh = await fs.open('/v', true);
    const held: { pieces: Buffer[]; want: Buffer; off: number }[] = [];
    const check = (h: (typeof held)[number]) => {
      if (!Buffer.concat(h.pieces).equals(h.want)) t.fail(`seed ${seed}: a held read at ${h.off} changed under later reads`);
    };
    let off = 0, failures = 0, gen = 2;
    // A first pass front to back: records written in order lie back to back, so the read-ahead
    // reads long runs (at ec:2+1, scattered reads).
    for (let o = 0; o < size; o += 16 * wb) fs.replied(await fs.readv(fh, o, 16 * wb));
    for (let op = 0; op < 2000; op++) {
      const r = rand();
      if (r < 0.05) {
        const lbn = Math.floor(rand() * blocks), b = block(wb, lbn, gen++);
        await fs.write(fh, lbn * wb, b);
        b.copy(model, lbn * wb);
        if (rand() < 0.5) await fs.fsync();
        continue;
      }
      if (r < 0.55) off = (off + 8 * wb) % size; else off = Math.floor(rand() * (size / 512)) * 512; // streams and random reads
      const len = Math.min(size - off, 512 + Math.floor(rand() * 12 * wb));
      const reads = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, i) => Math.min(size - 1, off + i * len));
      const got = await Promise.all(reads.map((o) => fs.readv(fh, o, len).then((pieces) => ({ pieces, off: o, want: Buffer.from(model.subarray(o, Math.min(size, o + len))) }))));
      for (const g of got) {
        if (!Buffer.concat(g.pieces).equals(g.want)) failures++;
        if (rand() < 0.3) held.push(g); else fs.replied(g.pieces);
      }
      while (held.length > 40 || (held.length && rand() < 0.25)) {
        const h = held.splice(Math.floor(rand() * held.length), 1)[0];
        check(h);
        fs.replied(h.pieces);
      }
    }
    for (const h of held) { check(h); fs.replied(h.pieces); }
    t.equal(failures, 0, `seed ${seed}: every read gave the file's bytes`);
    const c = ds.loans!.counters;
    t.ok(c.reused > c.opened / 2, `seed ${seed}: most loans reused a buffer (${c.reused} of ${c.opened})`);
    t.ok(ds.readAhead.hits > 100, 'streams were served from records fetched ahead');
    if (layout !== 'single') t.ok((ds.layout as SpreadLayout).io.counters.scattered > 0, 'large reads were scattered into loaned buffers');
    if (bs > wb) t.ok(ds.written.subBlocks > 0, 'the 4 KiB writes were stored as sub-block records');
    await fs.close();
  });
}
