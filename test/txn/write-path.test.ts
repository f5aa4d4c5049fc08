// The write path against a byte-array model: a fake file with committed blocks and an open txg;
// seeded arrays applied through WritePath, with freezes landing while old blocks are fetched.
// Then through the Filesystem: concurrent requests gather, O_SYNC is durable on return, and the
// commit-per-write switch makes one physical transaction per write.
import t from 'tap';
import { Mutex } from '../../src/txn/mutex.js';
import { TxnFile, WritePath } from '../../src/txn/write-path.js';
import { memDatastore, reopen, rng, ROOT, seedFromEnv } from '../helpers/mem.js';
import { applyToModel, genArray } from '../helpers/sg-gen.js';
import { sortIntoSets } from '../../src/txn/sg.js';
import { Filesystem } from '../../src/fs/filesystem.js';

const BS = 4096, BLOCKS = 8;

class FakeFile implements TxnFile {
  readonly ino = 99n;
  readonly lock = new Mutex();
  stored = new Map<number, Buffer>();   // committed (and committing) blocks
  open = new Map<number, Buffer>();
  sz = 0;
  fetches = 0;
  freezeDuringFetch = false;
  freezeEveryFetch = false;
  size() { return this.sz; }
  openSet() { return this.open; }
  openBlock(lbn: number) { return this.open.get(lbn); }
  async storedBlock(lbn: number) {
    this.fetches++;
    await new Promise((r) => setImmediate(r));
    if (this.freezeDuringFetch || this.freezeEveryFetch) { this.freeze(); this.freezeDuringFetch = false; }
    return this.stored.get(lbn) ?? null;
  }
  addBlock(lbn: number, b: Buffer) { this.open.set(lbn, b); }
  written(size: number) { this.sz = Math.max(this.sz, size); }
  freeze() { for (const [l, b] of this.open) this.stored.set(l, Buffer.from(b)); this.open = new Map(); }
  /** Bytes past EOF in the last block must be zero (a later size increase exposes them). */
  tailZero(): boolean {
    const lbn = Math.floor(this.sz / BS), b = this.open.get(lbn) ?? this.stored.get(lbn);
    return !b || b.subarray(this.sz - lbn * BS).every((x) => x === 0);
  }
  content(): Buffer {
    const out = Buffer.alloc(BLOCKS * 2 * BS);
    for (const [l, b] of this.stored) b.copy(out, l * BS);
    for (const [l, b] of this.open) b.copy(out, l * BS);
    return out.subarray(0, this.sz);
  }
}

const seed = seedFromEnv();
t.comment(`seed ${seed} (set SEED to repeat)`);

t.test('applied arrays equal the model; full overwrites fetch nothing; freezes mid-fetch re-resolve', async (t) => {
  const r = rng(seed);
  const f = new FakeFile();
  const wp = new WritePath(BS);
  let model: Buffer = Buffer.alloc(0);
  let bad = 0, setsMade = 0, txnsMade = 0;
  for (let round = 0; round < 2000 && !bad; round++) {
    const array = genArray(r, BLOCKS);
    if (r() < 0.2) f.freeze();
    f.freezeDuringFetch = r() < 0.2;
    const before = f.fetches, again = wp.stats.reresolved;
    const txns = await f.lock.run(() => wp.apply(f, array));
    setsMade += sortIntoSets(array, BS).length;
    txnsMade += txns.length;
    const oldBlocks = txns.filter((x) => x.dep === 'old-block').length;
    if (f.fetches - before < oldBlocks) bad++;
    if (!oldBlocks && f.fetches !== before && wp.stats.reresolved === again) { bad++; t.fail(`round ${round}: fetched without needing to`); }
    if (!f.tailZero()) { bad++; t.fail(`round ${round}: bytes past EOF are not zero`); }
    model = applyToModel(model, array);
    if (!f.content().equals(model)) { bad++; t.fail(`round ${round} (seed ${seed}): content differs from the model`); }
  }
  t.equal(bad, 0, `2000 arrays, seed ${seed}`);
  t.ok(wp.stats.reresolved > 0, `freezes during a fetch re-resolved ${wp.stats.reresolved} arrays`);
  t.equal(txnsMade, setsMade, 'one logical transaction per set');
  t.equal(wp.stats.sets, setsMade, 'status counts them');
  t.ok(wp.stats.overwrite && wp.stats.merge && wp.stats.zeroFill && wp.stats.oldBlock, `every resolution seen: ${JSON.stringify(wp.stats)}`);
});

t.test('a commit freezing the txg during every fetch still lets each array through', async (t) => {
  const r = rng(seed + 1);
  const f = new FakeFile();
  f.freezeEveryFetch = true;
  const wp = new WritePath(BS);
  let model: Buffer = Buffer.alloc(0);
  let bad = 0;
  for (let round = 0; round < 500; round++) {
    f.freezeEveryFetch = r() < 0.5;
    f.freeze(); // the blocks leave the open txg, so partial writes must fetch them
    const array = genArray(r, BLOCKS);
    await f.lock.run(() => wp.apply(f, array));
    model = applyToModel(model, array);
    if (!f.content().equals(model)) bad++;
  }
  t.equal(bad, 0, `500 arrays under a freeze storm, seed ${seed + 1}`);
  t.ok(wp.stats.reresolved > 50, `${wp.stats.reresolved} arrays were resolved again, none more than SG_MAX_RESOLVES times`);
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
