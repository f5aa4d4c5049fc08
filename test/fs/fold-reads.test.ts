// The cleaner's fold reads (fs/fold-reads.ts): at most CLEAN_FOLD_READS in flight, every result
// applied, an unreadable block makes the plan void, a failure is thrown once all have settled
// (never an unhandled rejection). Reads end when the test says, in a seeded order.
import t from 'tap';
import { FoldReads } from '../../src/fs/fold-reads.js';
import { LIMITS } from '../../src/limits.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

type Pending = { resolve: (v: number | 'unreadable') => void; reject: (e: unknown) => void };

function reader() {
  const pending: Pending[] = [];
  let inFlight = 0, most = 0;
  const read = () => new Promise<number | 'unreadable'>((resolve, reject) => {
    inFlight++; most = Math.max(most, inFlight);
    pending.push({ resolve: (v) => { inFlight--; resolve(v); }, reject: (e) => { inFlight--; reject(e); } });
  });
  return { pending, read, most: () => most };
}

t.test('bounded, every result applied, in any completion order', async (t) => {
  const seed = seedFromEnv(), r = rng(seed);
  const { pending, read, most } = reader();
  const folds = new FoldReads(), got: number[] = [];
  const n = 3 * LIMITS.CLEAN_FOLD_READS + 5;
  let next = 0;
  const starting = (async () => { for (; next < n; next++) { const i = next; await folds.start(read, (v) => { got[i] = v; }); } })();
  while (next < n || pending.length) {
    await new Promise((res) => setImmediate(res));
    if (pending.length) pending.splice(Math.floor(r() * pending.length), 1)[0].resolve(1000);
  }
  await starting;
  t.equal(await folds.settled(), true, 'settled: all readable');
  t.equal(got.filter((v) => v === 1000).length, n, `all ${n} results applied (seed ${seed})`);
  t.ok(most() <= LIMITS.CLEAN_FOLD_READS, `at most ${LIMITS.CLEAN_FOLD_READS} in flight (${most()})`);
  t.ok(most() > 1, 'more than one at once');
});

t.test('an unreadable block voids the plan; a failure is thrown after every read settles', async (t) => {
  const a = reader(), f1 = new FoldReads();
  await f1.start(a.read, () => undefined);
  await f1.start(a.read, () => undefined);
  a.pending[0].resolve('unreadable'); a.pending[1].resolve(1);
  t.equal(await f1.settled(), false, 'unreadable: false');

  const b = reader(), f2 = new FoldReads();
  let applied = 0;
  await f2.start(b.read, () => { applied++; });
  await f2.start(b.read, () => { applied++; });
  b.pending[0].reject(new Error('io'));
  await new Promise((res) => setImmediate(res)); // a rejection with nobody awaiting yet: must not be unhandled
  const settled = f2.settled();
  b.pending[1].resolve(2);
  await t.rejects(settled, /io/, 'the failure is thrown');
  t.equal(applied, 1, 'after the other read was applied');

  const c = reader(), f3 = new FoldReads();
  await f3.start(c.read, () => { throw new Error('use failed'); });
  c.pending[0].resolve(3);
  await t.rejects(f3.settled(), /use failed/, 'a throw while applying is a failure too');
});
