// ec:4+2 on three directories through a real mount: a target removed during a 30 s write
// stream (writes go on, status says DEGRADED and names it, new segments are kept as copies),
// brought back empty and rebuilt (scrub clean, copies' space reclaimed, every file equal to the
// model), then two of three targets taken away (commits fail with a clear errno; everything
// reads again when one comes back).
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fuseDaemon, sha256 } from '../helpers/daemon.js';
import { MiB, rng, seedFromEnv } from '../helpers/mem.js';

const STREAM_S = Number(process.env.LAYOUT_STREAM_S ?? 30);
/** Pace of the write stream: enough to fill many segments, little enough for CI's disk. */
const STREAM_MIB_PER_S = 6;
const FILES = 6, FILE_MIB = 24;
/** A vdisk written before the stream and never again: its segments keep fragments on every target, so a rebuild always has some to re-create (the stream's own old segments may all be cleaned away). */
const COLD_MIB = 8;
/** Longest wait for the daemon's health check to see a change (it checks every second): only a failing run waits this long. */
const WAIT_MS = 60_000;
const seed = seedFromEnv();
const r = rng(seed);
let b = '', c = '';
const d = await fuseDaemon(t, 'vdfs-layout-', async (base) => {
  b = join(base, 'b'); c = join(base, 'c');
  return ['--layout', 'ec:4+2', '--target', b, '--target', c];
});

interface Layout { state: string; targets: { path: string; state: string }[]; segments: { ec: number; replicated: number; missingFragments: number }; replicaBytes: number; freeChunks: number; scrub?: { bad: number; repaired: number; unrecoverable: number; missing: number } }

if (d) {
  t.comment(`seed ${seed}`);
  const model = Array.from({ length: FILES }, () => Buffer.alloc(FILE_MIB * MiB));
  const cold = randomBytes(COLD_MIB * MiB);
  const layout = async (): Promise<Layout> => (await d.vdfs('status', d.mnt)).layout as Layout;
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const hex = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');
  /** Polls status until `ok` holds; fails (showing the last status) after WAIT_MS rather than hanging. */
  const waitFor = async (t: Test, what: string, ok: (l: Layout) => boolean): Promise<void> => {
    const deadline = Date.now() + WAIT_MS;
    let l = await layout();
    while (!ok(l) && Date.now() < deadline) { await sleep(200); l = await layout(); }
    t.ok(ok(l), what, ok(l) ? {} : { status: l });
  };
  /** Every vdisk's sha256 against the model. */
  const checkModel = async (t: Test, when: string): Promise<void> => {
    let bad = 0;
    for (let f = 0; f < FILES; f++) if (await sha256(d.at(`disk${f}`)) !== hex(model[f])) bad++;
    if (await sha256(d.at('cold')) !== hex(cold)) bad++;
    t.equal(bad, 0, `every vdisk equals the model ${when}`);
  };

  /** Writes `mib` MiB at random places of the files (and fsyncs each); throws on any error. */
  const writeSome = async (mib: number): Promise<void> => {
    for (let i = 0; i < mib; i++) {
      const f = Math.floor(r() * FILES), off = Math.floor(r() * (FILE_MIB - 1)) * MiB + Math.floor(r() * 8) * 4096;
      const data = randomBytes(MiB);
      const fh = await open(d.at(`disk${f}`), 'r+');
      try { await fh.write(data, 0, data.length, off); await fh.sync(); } finally { await fh.close(); }
      data.copy(model[f], off);
    }
  };

  t.before(async () => {
    await d.start();
    for (let f = 0; f < FILES; f++) {
      const fh = await open(d.at(`disk${f}`), 'w');
      await fh.truncate(FILE_MIB * MiB); await fh.close();
    }
    const fh = await open(d.at('cold'), 'w');
    try { await fh.write(cold, 0, cold.length, 0); await fh.sync(); } finally { await fh.close(); }
  });
  t.teardown(() => d.stop());

  t.test(`a target removed during a ${STREAM_S} s write stream, rebuilt empty`, async (t) => {
    t.equal((await layout()).state, 'OK', 'OK before');
    const t0 = Date.now();
    let removed = false, seenMissing = false, mib = 0;
    while (Date.now() - t0 < STREAM_S * 1000 || (!seenMissing && Date.now() - t0 < STREAM_S * 1000 + WAIT_MS)) {
      const tick = Date.now();
      await writeSome(STREAM_MIB_PER_S);
      mib += STREAM_MIB_PER_S;
      if (!removed && Date.now() - t0 > (STREAM_S * 1000) / 5) { await rm(b, { recursive: true, force: true }); removed = true; }
      if (removed && !seenMissing) {
        seenMissing = (await layout()).targets[1].state === 'missing';
        if (seenMissing) await writeSome(2 * STREAM_MIB_PER_S); // some writes surely after it was marked
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    t.comment(`${mib} MiB written and fsynced without an error`);
    t.ok(seenMissing, 'the health check marked the removed target missing');
    const deg = await layout();
    t.equal(deg.state, 'DEGRADED', 'status says DEGRADED');
    t.same([deg.targets[1].path, deg.targets[1].state], [b, 'missing'], 'and names the removed target');
    t.ok(deg.segments.replicated > 0, `${deg.segments.replicated} segments written as copies while it was out`);
    t.ok(deg.replicaBytes > 0, `copies take ${deg.replicaBytes} bytes`);
    await checkModel(t, 'while degraded');

    await mkdir(b);
    const rb = await d.vdfs('rebuild', d.mnt);
    t.ok(rb.fragments > 0, `rebuild re-created ${rb.fragments} fragments`);
    const sc = await d.vdfs('scrub', d.mnt) as { layout: Layout };
    t.same(sc.layout.scrub && [sc.layout.scrub.bad, sc.layout.scrub.unrecoverable, sc.layout.scrub.missing], [0, 0, 0], 'scrub is clean');
    const after = await layout();
    t.equal(after.state, 'OK', 'status OK again');
    t.same([after.segments.replicated, after.replicaBytes], [0, 0], 'no copies left');
    t.ok(after.freeChunks > deg.freeChunks, `their space is free for reuse (${deg.freeChunks} → ${after.freeChunks} free chunks)`);
    await checkModel(t, 'after rebuild and scrub');
  });

  t.test('two of three targets out: commits fail with a clear errno; reads come back with one', async (t) => {
    await writeSome(4);
    await rename(b, `${b}.away`); await rename(c, `${c}.away`);
    await waitFor(t, 'status says UNAVAILABLE', (l) => l.state === 'UNAVAILABLE');
    // a file outside the model: what a failed commit leaves in memory is not committed data
    const err = await (async () => {
      const fh = await open(d.at('probe'), 'w');
      try { await fh.write(randomBytes(MiB)); await fh.sync(); return null; } catch (e) { return e as NodeJS.ErrnoException; } finally { await fh.close().catch(() => undefined); }
    })();
    t.ok(err && ['ENXIO', 'EIO', 'EROFS'].includes(err.code ?? ''), `a write + fsync fails with ${err?.code}`);
    await rename(`${c}.away`, c);
    await waitFor(t, 'the returned target is online again', (l) => l.targets[2].state === 'online');
    await checkModel(t, 'with one target back: committed data reads back');
    await rename(`${b}.away`, b);
  });
}
