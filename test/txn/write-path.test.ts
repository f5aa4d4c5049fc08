// The write path against a byte-array model: a fake file with committed blocks and an open txg;
// seeded arrays applied through WritePath, with freezes between them (partly written blocks
// are filled from the stored ones when frozen or read).
// Then through the Filesystem: concurrent requests gather, O_SYNC is durable on return, and the
// commit-per-write switch makes one physical transaction per write.
import t from 'tap';
import { Mutex } from '../../src/txn/mutex.js';
import { TxnFile, WritePath } from '../../src/txn/write-path.js';
import { DEFAULTS, memDatastore, MiB, reopen, rng, ROOT, seedFromEnv } from '../helpers/mem.js';
import { randomBytes } from 'node:crypto';
import type { Framer } from '../../src/codec/block-codec.js';
import { LIMITS } from '../../src/limits.js';
import { applyToModel, genArray } from '../helpers/sg-gen.js';
import { SgPiece, sortIntoSets } from '../../src/txn/sg.js';
import { cover, fillGaps, newPartial, Partial, whole } from '../../src/fs/partial.js';
import { Filesystem } from '../../src/fs/filesystem.js';

const BS = 4096, BLOCKS = 8;

class FakeFile implements TxnFile {
  readonly ino = 99n;
  readonly lock = new Mutex();
  stored = new Map<number, Buffer>();   // committed blocks
  open = new Map<number, Buffer>();
  partial = new Map<number, Partial>();
  sz = 0;
  size() { return this.sz; }
  openBlock(lbn: number) { return this.open.get(lbn); }
  addBlock(lbn: number, b: Buffer) { this.open.set(lbn, b); this.partial.delete(lbn); }
  addPartial(lbn: number, b: Buffer) { this.open.set(lbn, b); this.partial.set(lbn, newPartial()); }
  written(lbn: number, pieces: readonly SgPiece[]) {
    const p = this.partial.get(lbn);
    if (p) for (const x of pieces) cover(p, x.at, x.at + x.bytes.length);
    if (p && whole(p, BS)) this.partial.delete(lbn);
  }
  grown(size: number) { this.sz = Math.max(this.sz, size); }
  /** The open block as a read (or the commit) sees it: partly written ones filled from the stored block. */
  whole(lbn: number): Buffer {
    const b = Buffer.from(this.open.get(lbn)!), p = this.partial.get(lbn);
    if (p) fillGaps(b, p, this.stored.get(lbn) ?? null);
    return b;
  }
  freeze() { for (const l of this.open.keys()) this.stored.set(l, this.whole(l)); this.open = new Map(); this.partial = new Map(); }
  /** Bytes past EOF in the last block must be zero (a later size increase exposes them). */
  tailZero(): boolean {
    const lbn = Math.floor(this.sz / BS), b = this.open.has(lbn) ? this.whole(lbn) : this.stored.get(lbn);
    return !b || b.subarray(this.sz - lbn * BS).every((x) => x === 0);
  }
  content(): Buffer {
    const out = Buffer.alloc(BLOCKS * 2 * BS);
    for (const [l, b] of this.stored) b.copy(out, l * BS);
    for (const l of this.open.keys()) this.whole(l).copy(out, l * BS);
    return out.subarray(0, this.sz);
  }
}

const seed = seedFromEnv();
t.comment(`seed ${seed} (set SEED to repeat)`);

t.test('applied arrays equal the model; partial writes into stored blocks are filled from them later; nothing waits', async (t) => {
  const r = rng(seed);
  let bad = 0, setsMade = 0, txnsMade = 0;
  const wp = new WritePath(BS);
  for (const freezeRate of [0.2, 0.9]) {
    const f = new FakeFile();
    let model: Buffer = Buffer.alloc(0);
    for (let round = 0; round < 1500 && !bad; round++) {
      const array = genArray(r, BLOCKS);
      if (r() < freezeRate) f.freeze();
      const txns = await f.lock.run(() => wp.apply(f, array));
      setsMade += sortIntoSets(array, BS).length;
      txnsMade += txns.length;
      for (const x of txns) {
        const partial = f.partial.has(x.lbn);
        if (x.dep === 'old-block' && !partial && !f.open.has(x.lbn)) { bad++; t.fail(`round ${round}: an old-block set left no block`); }
        if ((x.dep === 'overwrite' || x.dep === 'zero-fill') && partial) { bad++; t.fail(`round ${round}: a ${x.dep} block is partly written`); }
      }
      if (!f.tailZero()) { bad++; t.fail(`round ${round}: bytes past EOF are not zero`); }
      model = applyToModel(model, array);
      if (!f.content().equals(model)) { bad++; t.fail(`round ${round} (seed ${seed}, freeze rate ${freezeRate}): content differs from the model`); }
    }
  }
  t.equal(bad, 0, `3000 arrays, seed ${seed}`);
  t.equal(txnsMade, setsMade, 'one logical transaction per set');
  t.equal(wp.stats.sets, setsMade, 'status counts them');
  t.ok(wp.stats.overwrite && wp.stats.merge && wp.stats.zeroFill && wp.stats.oldBlock, `every resolution seen: ${JSON.stringify(wp.stats)}`);
});

t.test('concurrent writes to one file gather into arrays and land in one commit', async (t) => {
  const { target, fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/d', 0o644, ROOT));
  const r = rng(seed + 2);
  const model = Buffer.alloc(64 * 4096);
  const jobs: Promise<void>[] = [];
  const blocks = new Set<number>();
  let spans = 0;
  for (let i = 0; i < 200; i++) {
    const off = Math.floor(r() * 60 * 4096), data = Buffer.alloc(1 + Math.floor(r() * 8192), i % 251 + 1);
    const first = Math.floor(off / 4096), last = Math.floor((off + data.length - 1) / 4096);
    for (let b = first; b <= last; b++) blocks.add(b);
    spans += last - first + 1;
    data.copy(model, off);
    jobs.push(fs.write(fh, off, data));
  }
  await Promise.all(jobs);
  await fs.fsync();
  const w = fs.writes.stats;
  t.equal(w.elements, 200);
  t.equal(fs.counters.writes, 200);
  t.ok(w.arrays < 20, `200 concurrent requests formed ${w.arrays} arrays`);
  t.equal(fs.txg.stats.commitsWithWrites, 1, 'one physical transaction');
  const lt = fs.txg.stats.logicalTxns;
  t.ok(lt >= blocks.size && lt <= spans, `carrying ${lt} logical transactions: at least one per block written (${blocks.size}), at most one per request and block (${spans})`);
  const size = (await fs.getattr('/d')).size;
  const re = await reopen(target);
  t.ok((await re.fs.read(await re.fs.open('/d', false), 0, size)).equals(model.subarray(0, size)), 'content after reopen');
});

t.test('O_SYNC writes are durable when they return; buffered ones wait for a commit', async (t) => {
  const { ds, fs } = await memDatastore();
  const v = await fs.create('/s', 0o644, ROOT);
  const plain = fs.addHandle(v), sync = fs.addHandle(v, true);
  const txg0 = ds.txg;
  await fs.write(plain, 0, Buffer.alloc(100, 1));
  t.equal(ds.txg, txg0, 'a buffered write commits nothing');
  await fs.write(sync, 0, Buffer.alloc(100, 2));
  t.ok(ds.txg > txg0, 'the O_SYNC write returned after a commit');
  t.notOk(fs.hasChanges(), 'nothing left open');
});

t.test('the commit-per-write switch makes one physical transaction per write', async (t) => {
  const { ds } = await memDatastore();
  const fs = new Filesystem(ds, () => {}, { commitPerWrite: true });
  const fh = fs.addHandle(await fs.create('/p', 0o644, ROOT));
  const c0 = fs.txg.stats.commits;
  await Promise.all([...Array(20).keys()].map((i) => fs.write(fh, i * 4096, Buffer.alloc(4096, i + 1))));
  t.equal(fs.txg.stats.commits - c0, 20, '20 writes, 20 commits');
  t.equal(fs.txg.stats.commitsWithWrites, 20);
});

t.test('a commit of plain data frames each block as it appends it: the log is written before the last block is hashed', async (t) => {
  const { target, ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize, S = 4096;
  const fh = fs.addHandle(await fs.create('/d', 0o644, ROOT));
  const data = randomBytes(16 * MiB);
  data.fill(0, 8 * MiB + 5 * bs, 8 * MiB + 6 * bs); // an all-zero block in the measured commit: a zero pointer, no record
  await fs.write(fh, 0, data.subarray(0, 8 * MiB));
  await fs.txg.sync();
  const part = randomBytes(S);
  await fs.write(fh, 3 * bs + S, part); // a sub-block into a stored block: framed from a copy
  part.copy(data, 3 * bs + S);
  let framed = 0, atFirstWrite = -1;
  const framer = ds.codec.framer.bind(ds.codec);
  ds.codec.framer = (items) => {
    const f: Framer = framer(items);
    const frame = f.frame.bind(f);
    f.frame = (x) => { framed++; return frame(x); };
    return f;
  };
  const writev = target.writev.bind(target);
  target.writev = async (off, parts) => { if (atFirstWrite < 0 && framed) atFirstWrite = framed; return writev(off, parts); };
  const w0 = { ...ds.written };
  await fs.write(fh, 8 * MiB, data.subarray(8 * MiB));
  await fs.txg.sync();
  const blocks = 8 * MiB / bs;
  t.same({ blocks: ds.written.blocks - w0.blocks, subBlocks: ds.written.subBlocks - w0.subBlocks }, { blocks: blocks - 1, subBlocks: 1 },
    'the commit wrote the second half but its zero block as whole-block records, and the 4 KiB write as a sub-block record');
  t.equal(framed, blocks, 'each of them was framed once, the zero block not at all');
  // the appender writes a chunk (WRITE_CHUNK_BYTES) as it fills: the first once about that many bytes are framed
  t.ok(atFirstWrite > 0 && atFirstWrite <= LIMITS.WRITE_CHUNK_BYTES / bs + 1, `the first log write came after ${atFirstWrite} of ${blocks} blocks were framed`);
  const again = await reopen(target, DEFAULTS.segmentSize);
  const rh = await again.fs.open('/d', false);
  t.ok((await again.fs.read(rh, 0, data.length)).equals(data), 'every byte reads back after a reopen, the zero block too');
});
