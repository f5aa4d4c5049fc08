// File targets: a vectored write of more buffers than one writev takes (IOV_MAX) lands as their
// concatenation, at its offset, empty buffers included; reads past the end give zeros; direct
// writes; writeback started early, whose error fails the next sync.
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

t.test('direct writes: aligned staging buffers land at their offsets, the probe leaves its bytes as they were', async (t) => {
  const dir = await mkdtemp(join('/var/tmp', 'vdfs-direct-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  process.env.VDFS_DIRECT = '0';
  const plain = await FileTarget.open(join(dir, 'p'), true).finally(() => { delete process.env.VDFS_DIRECT; });
  t.equal(plain.direct, undefined, 'none with VDFS_DIRECT=0');
  await plain.close();
  const tg = await FileTarget.open(join(dir, 'f'), true); // otherwise there (log/write-mode.ts picks the commits that use them)
  t.teardown(() => tg.close());
  const d = tg.direct;
  if (!d) { t.pass('skipped: this file system refuses O_DIRECT'); return; }
  const probe = Buffer.alloc(LIMITS.DIRECT_ALIGN, 0x5c);
  await tg.write(0, Buffer.alloc(LIMITS.HEADER_REGION));
  await tg.write(LIMITS.DIRECT_PROBE_AT, probe);
  const r = rng(seed);
  const want: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const b = d.take();
    t.ok(b, `staging buffer ${i}`);
    if (!b) return;
    const len = (1 + Math.floor(r() * (b.length / LIMITS.DIRECT_ALIGN - 1))) * LIMITS.DIRECT_ALIGN;
    for (let j = 0; j < len; j++) b[j] = (j * 7 + i) & 255;
    want.push(Buffer.from(b.subarray(0, len)));
    await d.write(LIMITS.HEADER_REGION + i * LIMITS.WRITE_CHUNK_BYTES, b, len);
  }
  for (const [i, w] of want.entries()) t.ok((await tg.read(LIMITS.HEADER_REGION + i * LIMITS.WRITE_CHUNK_BYTES, w.length)).equals(w), `write ${i} reads back (seed ${seed})`);
  t.same(await tg.read(LIMITS.DIRECT_PROBE_AT, probe.length), probe, 'the probed bytes are unchanged');
  const b = d.take()!;
  await t.rejects(d.write(LIMITS.HEADER_REGION + 512, b, LIMITS.DIRECT_ALIGN), 'a misaligned offset is refused');
  d.give(b);
});

/** The target's file handle, to count or fail its fdatasyncs (a private field, reached for this test only). */
const handleOf = (tg: FileTarget) => (tg as unknown as { fh: { datasync(): Promise<void> } }).fh;

t.test('writeback starts early: an fdatasync begins once WRITEBACK_HINT_BYTES are written, and its error fails the next sync', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vdfs-target-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tg = await FileTarget.open(join(dir, 'f'), true);
  t.teardown(() => tg.close());
  const fh = handleOf(tg);
  const real = fh.datasync.bind(fh);
  let calls = 0, failNext = false;
  fh.datasync = async () => {
    calls++;
    if (failNext) { failNext = false; throw Object.assign(new Error('EIO: injected writeback error'), { code: 'EIO' }); }
    return real();
  };
  const chunk = Buffer.alloc(LIMITS.WRITEBACK_HINT_BYTES / 4, 1);
  for (let i = 0; i < 3; i++) await tg.write(i * chunk.length, chunk);
  t.equal(calls, 0, 'three quarters of the hint start nothing');
  await tg.writev!(3 * chunk.length, [chunk.subarray(0, 100), chunk.subarray(100)]);
  t.equal(calls, 1, 'the write that reaches the hint starts one fdatasync');
  await tg.sync();
  t.equal(calls, 2, 'sync waits for it and syncs once more');
  failNext = true;
  for (let i = 0; i < 4; i++) await tg.write(i * chunk.length, chunk);
  t.equal(calls, 3, 'the next hint starts another (it fails)');
  await t.rejects(tg.sync(), { code: 'EIO' }, 'the error the background fdatasync saw fails the sync that follows');
  await tg.sync();
  t.equal(calls, 4, 'a sync after it syncs again');
});
