// The record cache behind read-ahead: a fetch runs once per key; take joins it; a failed fetch
// is forgotten (take gives null, so the reader reads for itself); the oldest go past capacity;
// past capacity records already taken go before those still waiting for their reader; the key
// separates pointers, owners and blocks; taken records are kept within their own bound.
import t from 'tap';
import { RecordCache } from '../../src/txn/record-cache.js';
import { ExtentState } from '../../src/format/ptr.js';

t.test('fetch once, take joins, failures forgotten, capacity kept', async (t) => {
  const c = new RecordCache(2);
  let reads = 0;
  const read = (v: number) => async () => { reads++; return Buffer.from([v]); };
  c.fetch('a', read(1));
  c.fetch('a', read(9));
  t.equal(reads, 1, 'a second fetch of a key in flight does not read');
  t.same(await c.take('a'), Buffer.from([1]), 'take gets the fetched record');
  t.equal(await c.take('none'), null, 'take of an unknown key is null');
  c.fetch('bad', async () => { throw new Error('EIO'); });
  t.equal(await c.take('bad'), null, 'a failed fetch gives null');
  t.notOk(c.has('bad'), 'and is forgotten');
  c.fetch('b', read(2));
  c.fetch('c', read(3));
  t.notOk(c.has('a'), 'the oldest goes past capacity');
  t.ok(c.has('b') && c.has('c'));
  t.equal(c.hits, 1);
  t.equal(c.fetches, 4);
  t.throws(() => new RecordCache(0), RangeError);
});

t.test('past capacity, taken records go first; untaken ones only when nothing taken is left', async (t) => {
  const c = new RecordCache(3);
  const read = (v: number) => async () => Buffer.from([v]);
  c.fetch('a', read(1));
  c.fetch('b', read(2));
  c.fetch('c', read(3));
  await c.take('b');
  c.fetch('d', read(4));
  t.notOk(c.has('b'), 'the taken record went');
  t.ok(c.has('a') && c.has('c') && c.has('d'), 'the older untaken ones stay');
  t.equal(c.dropped, 0);
  t.same(await c.take('a'), Buffer.from([1]), 'a taken record may be taken again (another part of its block)');
  t.same(await c.take('a'), Buffer.from([1]));
  await c.take('c');
  c.fetch('e', read(5));
  t.notOk(c.has('a'), 'the one taken longest ago goes first');
  t.ok(c.has('c'), 'the one taken since stays');
  c.fetch('f', read(6));
  c.fetch('g', read(7));
  t.notOk(c.has('d'), 'with nothing taken left, the oldest fetched goes');
  t.equal(c.dropped, 1, 'and is counted as dropped');
});

t.test('a record never taken is not kept for ever, and the runs held stay within their bound', async (t) => {
  const c = new RecordCache(2);
  const read = (v: number) => async () => Buffer.from([v]);
  c.fetch('old', read(0));
  for (let i = 1; i <= 3; i++) { c.fetch(`x${i}`, read(i)); await c.take(`x${i}`); }
  t.ok(c.has('old'), 'while fewer than twice the capacity came after it, the untaken record stays');
  c.fetch('x4', read(4));
  t.notOk(c.has('old'), 'then it goes, before the taken ones');
  t.ok(c.has('x3') && c.has('x4'));
  t.equal(c.dropped, 1);

  const p = new RecordCache(10, 100);
  const r1 = { bytes: 60, held: 0 }, r2 = { bytes: 60, held: 0 };
  for (const k of ['a', 'b', 'c']) p.fetch(k, read(1), r1);
  t.equal(p.pinnedNow, 60, 'three records of one run hold it once');
  p.fetch('d', read(2), r2);
  t.equal(p.pinnedNow, 60, 'a second run past the bound: the first run\'s records go');
  t.ok(!p.has('a') && !p.has('b') && !p.has('c') && p.has('d'));
  t.equal(r1.held, 0);
  const q = new RecordCache(10, 1000), r3 = { bytes: 60, held: 0 };
  q.fetch('bad', async () => { throw new Error('EIO'); }, r3);
  await q.take('bad');
  t.equal(q.pinnedNow, 0, 'a failed fetch lets go of its run');
});

t.test('records already taken are kept only up to their own bound', async (t) => {
  const c = new RecordCache(10, Infinity, undefined, 2);
  const read = (v: number) => async () => Buffer.from([v]);
  for (const k of ['a', 'b', 'c', 'd']) c.fetch(k, read(1));
  await c.take('a');
  await c.take('b');
  t.ok(c.has('a') && c.has('b'), 'two taken records stay');
  await c.take('c');
  t.notOk(c.has('a'), 'a third taken one puts out the one taken longest ago');
  t.ok(c.has('b') && c.has('c') && c.has('d'), 'the rest stay, the untaken one too');
  await c.take('b');
  await c.take('d');
  t.ok(c.has('b') && c.has('d') && !c.has('c'), 'taking again counts as taken last');
});

t.test('the key names pointer, owner and block', async (t) => {
  const p = { state: ExtentState.Present, seg: 3, off: 4096, len: 4200, checksum: 77n, birth: 5n };
  const k = RecordCache.key(p, 16n, 2n);
  t.not(RecordCache.key({ ...p, birth: 6n }, 16n, 2n), k, 'another birth (a reused segment)');
  t.not(RecordCache.key({ ...p, checksum: 78n }, 16n, 2n), k, 'another checksum');
  t.not(RecordCache.key({ ...p, off: 8192 }, 16n, 2n), k, 'another offset');
  t.not(RecordCache.key(p, 17n, 2n), k, 'another file');
  t.not(RecordCache.key(p, 16n, 3n), k, 'another block');
  t.equal(RecordCache.key({ ...p }, 16n, 2n), k, 'the same record');
});
