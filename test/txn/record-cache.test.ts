// The record cache behind read-ahead: a fetch runs once per key; take joins it; a failed fetch
// is forgotten (take gives null, so the reader reads for itself); the oldest go past capacity;
// the key separates pointers, owners and blocks.
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
