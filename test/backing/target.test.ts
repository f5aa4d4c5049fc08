// File targets: a vectored write of more buffers than one writev takes (IOV_MAX) lands as their
// concatenation, at its offset, empty buffers included; reads past the end give zeros.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTarget } from '../../src/backing/target.js';
import { LIMITS } from '../../src/limits.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const seed = seedFromEnv();

t.test('writev of 2.5 x IOV_MAX parts of random sizes equals their concatenation', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vdfs-target-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tg = await FileTarget.open(join(dir, 'f'), true);
  const r = rng(seed);
  const parts = Array.from({ length: Math.floor(2.5 * LIMITS.IOV_MAX) }, (_, i) => Buffer.alloc(i % 97 === 0 ? 0 : 1 + Math.floor(r() * 700), i & 255));
  const want = Buffer.concat(parts);
  await tg.writev!(4096, parts);
  t.same(await tg.read(4096, want.length), want, `the bytes read back are the parts in order (seed ${seed})`);
  t.same(await tg.read(0, 4096), Buffer.alloc(4096), 'the bytes before it are still zeros');
  const tail = await tg.read(4096 + want.length - 10, 20);
  t.same(tail.subarray(10), Buffer.alloc(10), 'past the end reads zeros');
  await tg.close();
});
