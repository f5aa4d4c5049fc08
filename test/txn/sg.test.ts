// Scatter-gather grouping, sorting and offset resolution on generated arrays, against a
// byte-array model: overlaps, duplicates, partial blocks, writes past EOF, zero-length writes.
import t from 'tap';
import { coversBlock, overlay, sortIntoSets } from '../../src/txn/sg.js';
import { resolveSets } from '../../src/txn/resolve.js';
import { rng, seedFromEnv } from '../helpers/mem.js';
import { genArray } from '../helpers/sg-gen.js';

const BS = 4096;

const seed = seedFromEnv();
t.comment(`seed ${seed} (set SEED to repeat)`);

t.test('sets are one per block, ascending, and rebuild exactly what the array writes', async (t) => {
  const r = rng(seed);
  let bad = 0;
  for (let round = 0; round < 3000 && !bad; round++) {
    const array = genArray(r, 6);
    const model = Buffer.alloc(8 * BS);
    for (const e of array) e.data.copy(model, e.off);
    const sets = sortIntoSets(array, BS);
    const built = Buffer.alloc(8 * BS);
    let lastLbn = -1;
    for (const s of sets) {
      if (s.lbn <= lastLbn) bad++;
      lastLbn = s.lbn;
      for (const p of s.pieces) if (p.at < 0 || p.at + p.bytes.length > BS || p.bytes.length === 0) bad++;
      for (let i = 1; i < s.pieces.length; i++) if (s.pieces[i].elem < s.pieces[i - 1].elem) bad++;
      overlay(built.subarray(s.lbn * BS, (s.lbn + 1) * BS), s.pieces);
    }
    if (!built.equals(model)) bad++;
    if (bad) t.fail(`round ${round} (seed ${seed}): sets do not rebuild the array`);
  }
  t.equal(bad, 0, `3000 arrays, seed ${seed}`);
});

t.test('resolution: dependency, size change and the transaction-dependent array', async (t) => {
  const r = rng(seed + 1);
  let bad = 0;
  for (let round = 0; round < 3000 && !bad; round++) {
    const array = genArray(r, 6);
    const size = Math.floor(r() * 7 * BS);
    const dirty = new Set([...Array(6).keys()].filter(() => r() < 0.3));
    const sets = sortIntoSets(array, BS);
    const res = resolveSets(sets, { size, isDirty: (l) => dirty.has(l) }, BS);
    const modelSize = Math.max(size, ...array.filter((e) => e.data.length).map((e) => e.off + e.data.length));
    if (res.size !== modelSize) bad++;
    if (res.txns.length !== sets.length) bad++;
    for (const tx of res.txns) {
      // Model: which bytes of the block does the array write?
      const covered = new Uint8Array(BS);
      for (const e of array) for (let b = e.off; b < e.off + e.data.length; b++) if (Math.floor(b / BS) === tx.lbn) covered[b % BS] = 1;
      const full = covered.every((c) => c === 1);
      const want = full ? 'overwrite' : dirty.has(tx.lbn) ? 'merge' : tx.lbn * BS >= size ? 'zero-fill' : 'old-block';
      if (tx.dep !== want) bad++;
      if (coversBlock(tx.set.pieces, BS) !== full) bad++;
      if (tx.updates.blockPtr === dirty.has(tx.lbn)) bad++;
    }
    const dependent = res.txns.filter((x) => !dirty.has(x.lbn) || x.updates.size !== null);
    if (dependent.length !== res.dependent.length || dependent.some((d, i) => d !== res.dependent[i])) bad++;
    if (bad) t.fail(`round ${round} (seed ${seed + 1}) resolves wrongly`);
  }
  t.equal(bad, 0, `3000 arrays, seed ${seed + 1}`);
});

t.test('edge cases', async (t) => {
  t.same(sortIntoSets([{ off: 100, data: Buffer.alloc(0) }], BS), [], 'a zero-length write forms no set');
  const res = resolveSets(sortIntoSets([{ off: 10 * BS + 5, data: Buffer.from('x') }], BS), { size: 0, isDirty: () => false }, BS);
  t.equal(res.txns[0].dep, 'zero-fill', 'past EOF needs zero fill');
  t.equal(res.size, 10 * BS + 6, 'and grows the file');
  t.equal(res.dependent.length, 1);
  const two = sortIntoSets([{ off: 0, data: Buffer.alloc(BS / 2, 1) }, { off: BS / 2, data: Buffer.alloc(BS / 2, 2) }], BS);
  t.equal(resolveSets(two, { size: BS, isDirty: () => false }, BS).txns[0].dep, 'overwrite', 'two halves make a full overwrite');
  t.equal(resolveSets(two, { size: BS, isDirty: () => true }, BS).dependent.length, 0, 'a dirty block inside EOF changes no metadata');
});
