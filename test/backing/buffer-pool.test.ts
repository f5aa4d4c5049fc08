// The spread layouts' buffer pool: buffers come back by size, within SPREAD_POOL_BYTES, and a
// size given back recently displaces sizes given back long ago.
import t from 'tap';
import { BufferPool } from '../../src/backing/buffer-pool.js';
import { LIMITS } from '../../src/limits.js';

const G = LIMITS.SPREAD_POOL_GRAIN;

t.test('a buffer given back is taken again for the same rounded size', async (t) => {
  const p = new BufferPool();
  const a = p.take(G + 1);
  t.equal(a.length, 2 * G, 'sizes round up to the grain');
  p.give(a);
  t.equal(p.take(2 * G - 5), a, 'the same buffer comes back');
  t.not(p.take(2 * G), a, 'and only once');
});

t.test('a full pool makes room for a new size by dropping the oldest', async (t) => {
  const p = new BufferPool();
  const big = 16 * G, n = Math.floor(LIMITS.SPREAD_POOL_BYTES / big);
  const writes = Array.from({ length: n }, () => p.take(big));
  for (const b of writes) p.give(b);
  const read = p.take(4 * G);
  p.give(read);
  t.equal(p.take(4 * G), read, 'the read-sized buffer was kept though the pool was full of write-sized ones');
  let back = 0;
  for (let i = 0; i < n; i++) if (writes.includes(p.take(big))) back++;
  t.equal(back, n - 1, 'one write-sized buffer was dropped for it');
});
