// Power loss with the oplog: fsyncs of writes and truncations go to the log, namespace changes
// make gaps (fsync commits). The power fails at every sync; the writes not yet synced are
// dropped, applied, or torn at 512 B and 4 KiB. Every reopen (which replays the log) must give
// the state after some change at or after the last acknowledged fsync, never one before it or
// one that never was, and the datastore must take writes again. Blocks of 16 KiB, and a third of
// the writes 4 KiB-aligned whole sub-blocks, so that commits store sub-block records too.
import t from 'tap';
import { SingleLayout } from '../../src/backing/layout.js';
import { MemTarget } from '../../src/backing/target.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { Datastore } from '../../src/txn/datastore.js';
import { contentOf, rng, ROOT } from '../helpers/mem.js';
import { checkImages, PowerLossTarget } from '../helpers/power-loss.js';

const SEED = Number(process.env.SEED ?? 11);
const GEOMETRY = { blockSize: 16 * 1024, segmentSize: 64 * 1024 };
const STEPS = Number(process.env.POWER_LOSS_STEPS ?? 20);
t.comment(`seed ${SEED}, ${STEPS} steps (set SEED, POWER_LOSS_STEPS to change)`);

/** The fixed workload; `changed` after every change, `acked` after every fsync returns. */
async function workload(fs: Filesystem, changed: () => Promise<void>, acked: () => void): Promise<void> {
  const r = rng(SEED);
  const names = ['/a.raw', '/b.raw'];
  for (const p of names) { fs.release(fs.addHandle(await fs.create(p, 0o644, ROOT))); await changed(); }
  await fs.fsync();
  acked();
  for (let step = 0; step < STEPS; step++) {
    const path = names[Math.floor(r() * names.length)];
    const what = r();
    if (what < 0.06) {
      const other = names.find((n) => n !== path)!;
      await fs.rename(path, other);
      fs.release(fs.addHandle(await fs.create(path, 0o644, ROOT)));
      await changed();
    } else if (what < 0.2) {
      await fs.truncate(path, null, Math.floor(r() * 120_000));
      await changed();
    } else {
      const fh = await fs.open(path, true);
      for (let w = 0, n = 1 + Math.floor(r() * 5); w < n; w++) {
        const aligned = r() < 0.5;
        const len = aligned ? 4096 * (1 + Math.floor(r() * 2)) : 1 + Math.floor(r() * 12_000);
        const off = aligned ? 4096 * Math.floor(r() * 24) : Math.floor(r() * 100_000);
        await fs.write(fh, off, Buffer.alloc(len, 1 + Math.floor(r() * 255)));
        await changed();
      }
      fs.release(fh);
    }
    await fs.fsync();
    acked();
    if (r() < 0.3) await fs.txg.sync(); // a commit, as the timer makes them: later writes find their blocks stored
  }
}

async function run(failAtSync: number | null) {
  await initChecksum();
  const target = new PowerLossTarget(failAtSync, failAtSync !== null && failAtSync % 2 === 1); // odd sync points: the direct-write path
  const states: string[] = [];
  let acked = -1;
  let fs: Filesystem | null = null;
  try {
    const ds = await Datastore.mkfs(new SingleLayout(target, GEOMETRY.segmentSize), GEOMETRY);
    fs = new Filesystem(ds);
    await fs.recover();
    states.push(await contentOf(fs));
    acked = 0;
    await workload(fs, async () => { states.push(await contentOf(fs!)); }, () => { acked = states.length - 1; });
  } catch (e) {
    if (!target.lost) throw e;
  }
  return { target, states, acked, fs };
}

t.test('power loss at every sync with the oplog: each image replays to a state at or after the last acknowledged', async (t) => {
  const full = await run(null);
  const syncs = full.target.syncs;
  const st = full.fs!.journal.stats;
  t.ok(st.logSyncs >= STEPS / 2, `the workload makes ${syncs} syncs, ${st.logSyncs} of them log appends`);
  t.ok(full.fs!.ds.written.subBlocks > 0, `the commits stored sub-block records (${JSON.stringify(full.fs!.ds.written)} ${JSON.stringify(full.fs!.writes.stats)})`);
  const r = rng(SEED + 1);
  const n = { images: 0, failures: 0, acked: 0, later: 0 };
  for (let k = 1; k <= syncs; k++) {
    const crash = await run(k);
    t.ok(crash.target.lost, `power lost at sync ${k}`);
    if (crash.acked < 0) continue; // mkfs itself never finished: there is no datastore to open
    await checkImages(t, `sync ${k}`, crash.target, r, n, (mem) => checkImage(mem, crash.acked, full.states));
  }
  t.equal(n.failures, 0, `${n.images} images: ${n.acked} at the acknowledged state, ${n.later} at a later one`);
  t.ok(n.later > 0 && n.acked > 0, 'both outcomes occur');
});

async function checkImage(mem: MemTarget, acked: number, states: string[]): Promise<string> {
  let fs: Filesystem;
  try {
    fs = new Filesystem(await Datastore.open(new SingleLayout(mem, GEOMETRY.segmentSize)));
    await fs.recover();
  } catch (e) { return `does not open: ${(e as Error).message}`; }
  const got = await contentOf(fs);
  const at = states.indexOf(got, acked);
  if (at < 0) return states.indexOf(got) >= 0 ? `content of change ${states.indexOf(got)}, before the acknowledged ${acked}` : 'content that never was';
  // It takes writes again and they survive a reopen without close.
  const fh = fs.addHandle(await fs.create('/after-crash', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(50_000, 0x5a));
  await fs.fsync();
  await fs.write(fh, 60_000, Buffer.alloc(3000, 0x6b));
  await fs.fsync();
  const again = new Filesystem(await Datastore.open(new SingleLayout(mem, GEOMETRY.segmentSize)));
  await again.recover();
  const back = await again.read(await again.open('/after-crash', false), 0, 63_000);
  const want = Buffer.alloc(63_000); want.fill(0x5a, 0, 50_000); want.fill(0x6b, 60_000);
  if (!back.equals(want)) return 'a write after the crash was lost';
  return at === acked ? 'acked' : 'later';
}
