// Power loss at every sync of a fixed workload (writes, truncation, fallocate's punches, zeroed
// ranges and growth, renames, unlinks): the writes not yet synced are dropped, applied,
// or torn at 512 B and 4 KiB; every reopen must give the state of a committed transaction group
// at or after the last acknowledged one (here: the acknowledged one or the one being committed),
// and the datastore must take writes again.
import t from 'tap';
import { SingleLayout } from '../../src/backing/layout.js';
import { MemTarget } from '../../src/backing/target.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { Datastore } from '../../src/txn/datastore.js';
import { contentOf, rng, ROOT, SMALL } from '../helpers/mem.js';
import { checkImages, PowerLossTarget } from '../helpers/power-loss.js';

const SEED = Number(process.env.SEED ?? 7);
const STEPS = Number(process.env.POWER_LOSS_STEPS ?? 24);
t.comment(`seed ${SEED}, ${STEPS} steps (set SEED, POWER_LOSS_STEPS to change)`);

/** The fixed workload: each step changes something and ends with an fsync (one commit). */
async function workload(fs: Filesystem, onDurable: (txg: bigint) => Promise<void>): Promise<number> {
  const r = rng(SEED);
  let fallocates = 0;
  await fs.mkdir('/vm', 0o755, ROOT);
  const names = ['/vm/a.raw', '/vm/b.raw', '/c.raw'];
  for (let step = 0; step < STEPS; step++) {
    const path = names[Math.floor(r() * names.length)];
    const exists = await fs.getattr(path).then(() => true, () => false);
    const what = r();
    if (!exists) fs.release(fs.addHandle(await fs.create(path, 0o644, ROOT)));
    if (exists && what < 0.08) await fs.unlink(path);
    else if (exists && what < 0.16) await fs.rename(path, names.find((n) => n !== path)!);
    else if (exists && what < 0.26) await fs.truncate(path, null, Math.floor(r() * 150_000));
    else if (exists && what < 0.36) {
      // fallocate: a punched hole, a zeroed range (which may grow the file), or room made (grows only)
      const fh = await fs.open(path, true), kind = Math.floor(r() * 3);
      const off = Math.floor(r() * 120_000), len = 1 + Math.floor(r() * 60_000);
      await fs.fallocate(fh, off, len, { keepSize: kind === 0, zero: kind < 2 });
      fs.release(fh);
      fallocates++;
    } else {
      const fh = await fs.open(path, true);
      for (let w = 0, n = 1 + Math.floor(r() * 6); w < n; w++) {
        const len = 1 + Math.floor(r() * 40_000), off = Math.floor(r() * 120_000);
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i += 97) data[i] = 1 + Math.floor(r() * 255);
        await fs.write(fh, off, data);
      }
      fs.release(fh);
    }
    await fs.fsync();
    await onDurable(fs.ds.txg);
  }
  return fallocates;
}

async function run(failAtSync: number | null) {
  await initChecksum();
  // odd sync points: direct writes, every commit (1 mod 4) or every other one, mixed with buffered (3 mod 4)
  const target = new PowerLossTarget(failAtSync, failAtSync !== null && failAtSync % 2 === 1);
  const mixed = failAtSync !== null && failAtSync % 4 === 3;
  const states = new Map<bigint, string>();
  let acked = -1n, fallocates = 0;
  try {
    const ds = await Datastore.mkfs(new SingleLayout(target, SMALL.segmentSize), { ...SMALL, direct: target.direct ? 'always' : 'never' });
    if (mixed) { let n = 0; ds.writeMode.direct = () => n++ % 2 === 0; } // as auto does when it changes way
    const fs = new Filesystem(ds);
    acked = ds.txg;
    states.set(ds.txg, await contentOf(fs));
    fallocates = await workload(fs, async (txg) => { acked = txg; states.set(txg, await contentOf(fs)); });
  } catch (e) {
    if (!target.lost) throw e;
  }
  return { target, states, acked, fallocates };
}

t.test('power loss at every sync: each image opens at a committed txg at or after the last acknowledged', async (t) => {
  const full = await run(null);
  const syncs = full.target.syncs;
  t.ok(syncs >= STEPS, `the workload makes ${syncs} syncs`);
  t.ok(full.fallocates > 0, `and ${full.fallocates} fallocates`);
  const r = rng(SEED + 1);
  const n = { images: 0, failures: 0, acked: 0, next: 0 };
  for (let k = 1; k <= syncs; k++) {
    const crash = await run(k);
    t.ok(crash.target.lost, `power lost at sync ${k}`);
    if (crash.acked < 0n) continue; // mkfs itself never finished: there is no datastore to open
    await checkImages(t, `sync ${k}`, crash.target, r, n, (mem) => checkImage(mem, crash.acked, full.states));
  }
  t.equal(n.failures, 0, `${n.images} images: ${n.acked} at the acknowledged txg, ${n.next} at the one being committed`);
  t.ok(n.next > 0 && n.acked > 0, 'both outcomes occur');
});

async function checkImage(mem: MemTarget, acked: bigint, states: Map<bigint, string>): Promise<string> {
  let ds: Datastore;
  try { ds = await Datastore.open(new SingleLayout(mem, SMALL.segmentSize)); } catch (e) { return `does not open: ${(e as Error).message}`; }
  const opened = ds.txg;
  if (ds.txg < acked) return `opened at txg ${ds.txg}, before the acknowledged ${acked}`;
  if (ds.txg > acked + 1n) return `opened at txg ${ds.txg}, never committed`;
  const fs = new Filesystem(ds);
  if ((await contentOf(fs)) !== states.get(ds.txg)) return `content at txg ${ds.txg} differs from that commit's`;
  // It takes writes again and they survive a reopen.
  const fh = fs.addHandle(await fs.create('/after-crash', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(50_000, 0x5a));
  await fs.fsync();
  const again = new Filesystem(await Datastore.open(new SingleLayout(mem, SMALL.segmentSize)));
  const back = await again.read(await again.open('/after-crash', false), 0, 50_000);
  if (!back.equals(Buffer.alloc(50_000, 0x5a))) return 'a write after the crash was lost';
  return opened === acked ? 'acked' : 'next';
}
