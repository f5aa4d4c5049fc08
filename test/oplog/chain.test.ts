// The oplog: its block codec, fsyncs through the log, replay after a crash (a reopen without
// close), gaps that make an fsync commit, sealing on a datastore with a key, and a spread layout.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { decodeOplogBlock, encodeOplogBlock, EntryKind, OplogEntry } from '../../src/oplog/format.js';
import type { Filesystem } from '../../src/fs/filesystem.js';
import { Filesystem as Fs } from '../../src/fs/filesystem.js';
import { Datastore } from '../../src/txn/datastore.js';
import { contentOf, memDatastore, reopen, rng, ROOT, SMALL, seedFromEnv } from '../helpers/mem.js';
import { layoutDatastore } from '../helpers/layouts.js';
import { isVdfsError } from '../../src/errors.js';
import { encodeSuperblock, SB_COPIES } from '../../src/format/superblock.js';
import { LIMITS } from '../../src/limits.js';

const SEED = seedFromEnv();
t.comment(`seed ${SEED} (set SEED to repeat)`);

t.test('block codec: entries round-trip; a damaged payload is refused', async (t) => {
  const entries: OplogEntry[] = [
    { kind: EntryKind.Write, ino: 17n, seq: 5n, off: 123_456, mtime: 1_700_000_000_123, data: Buffer.from('hello, log') },
    { kind: EntryKind.Size, ino: 18n, seq: 6n, off: 4096, mtime: 42, data: Buffer.alloc(0) },
    { kind: EntryKind.Write, ino: 17n, seq: 7n, off: 0, mtime: 43, data: randomBytes(5000) },
  ];
  const b = encodeOplogBlock({ nextSeg: 9, nextOff: 65536, entries });
  const back = decodeOplogBlock(b);
  t.equal(back.nextSeg, 9);
  t.equal(back.nextOff, 65536);
  t.same(back.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('hex') })), entries.map((e) => ({ ...e, data: e.data.toString('hex') })));
  const cut = b.subarray(0, b.length - 8);
  const code = (b: Buffer) => { try { decodeOplogBlock(b); return 'decoded'; } catch (e) { return isVdfsError(e, 'CORRUPT') ? 'CORRUPT' : String(e); } };
  t.equal(code(cut), 'CORRUPT', 'a cut payload');
  const kind = Buffer.from(b); kind[16] = 9;
  t.equal(code(kind), 'CORRUPT', 'an unknown entry kind');
  const dirty = encodeOplogBlock({ nextSeg: 9, nextOff: 65536, entries }, (len) => Buffer.alloc(len, 0xee));
  t.ok(dirty.equals(b), 'reserved bytes and padding are written as zeros whatever the buffer held');
  t.equal(b.subarray(16 + 40 + 10, 16 + 40 + 16).every((x) => x === 0), true, 'the first entry padded to 8 with zeros');
});

/** Random writes (some past the end, some too large to log), truncations and fsyncs, ending in one through the log; returns the content after each fsync. */
async function workload(fs: Filesystem, r: () => number, steps: number, paths: string[]): Promise<string[]> {
  const states: string[] = [];
  for (const p of paths) fs.release(fs.addHandle(await fs.create(p, 0o644, ROOT)));
  for (let s = 0; s < steps; s++) {
    const path = paths[Math.floor(r() * paths.length)];
    const fh = await fs.open(path, true);
    const what = r();
    if (what < 0.1) await fs.truncate(null, fh, Math.floor(r() * 300_000));
    else {
      const len = what < 0.15 ? 150_000 + Math.floor(r() * 50_000) : 1 + Math.floor(r() * 9000);
      const data = Buffer.alloc(len, 1 + Math.floor(r() * 255));
      await fs.write(fh, Math.floor(r() * 250_000), data);
      data.fill(0); // the log keeps its own copy
    }
    fs.release(fh);
    if (r() < 0.5) { await fs.fsync(); states.push(await contentOf(fs)); }
  }
  // The last fsync goes to the log whatever came before (a commit covers any gap first).
  await fs.txg.sync();
  const fh = await fs.open(paths[0], true);
  await fs.write(fh, Math.floor(r() * 250_000), Buffer.alloc(4096, 0x77));
  fs.release(fh);
  const logged = fs.journal.stats.logSyncs;
  await fs.fsync();
  if (fs.journal.stats.logSyncs !== logged + 1) throw new Error('the last fsync did not go to the log');
  states.push(await contentOf(fs));
  return states;
}

t.test('fsync through the log: a reopen without close replays it to the last acknowledged state', async (t) => {
  const r = rng(SEED);
  const { target, fs } = await memDatastore();
  const states = await workload(fs, r, 120, ['/a.raw', '/b.raw']);
  const st = fs.journal.stats;
  t.ok(st.logSyncs > 10, `${st.logSyncs} fsyncs went to the log (${st.commitSyncs} committed)`);
  t.ok(st.gaps > 0, `${st.gaps} gaps (large writes, creates)`);
  const image = Buffer.from(target.bytes); // the process dies here: nothing more is written
  target.bytes = image;
  const again = await reopen(target);
  t.ok(again.fs.journal.stats.replayed > 0, `${again.fs.journal.stats.replayed} entries replayed from ${again.ds.oplog.stats.recoveredBlocks} blocks`);
  t.equal(await contentOf(again.fs), states[states.length - 1], 'the content of the last fsync');
  // and once more: the replay was committed, the new chain is used, a second crash loses nothing
  const more = await workload(again.fs, r, 40, ['/c.raw']);
  const third = await reopen(target);
  t.equal(await contentOf(third.fs), more[more.length - 1], 'after a second crash');
});

t.test('a gap (namespace change) makes the next fsync commit; the one after logs again', async (t) => {
  const { fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/x.raw', 0o644, ROOT));
  await fs.fsync();
  const write = async () => { await fs.write(fh, 0, Buffer.alloc(4096, 7)); await fs.fsync(); };
  await write();
  const s = { ...fs.journal.stats };
  await write();
  t.equal(fs.journal.stats.logSyncs, s.logSyncs + 1, 'a write and fsync: one log sync');
  await fs.rename('/x.raw', '/y.raw');
  const c = fs.ds.commits;
  await write();
  t.equal(fs.ds.commits, c + 1, 'after a rename the fsync commits');
  await write();
  t.equal(fs.journal.stats.logSyncs, s.logSyncs + 2, 'then the log again');
  fs.release(fh);
});

t.test('a datastore with a key: the log holds no plaintext, and replays with the key', async (t) => {
  const key = randomBytes(32);
  const { target, fs } = await memDatastore({ ...SMALL, policy: { encrypt: true }, key });
  const fh = fs.addHandle(await fs.create('/s.raw', 0o644, ROOT));
  await fs.fsync();
  const secret = Buffer.from('a secret that must not be stored in the clear '.repeat(80));
  await fs.write(fh, 1000, secret);
  await fs.fsync();
  t.ok(fs.journal.stats.logSyncs >= 1, 'it went to the log');
  t.equal(Buffer.from(target.bytes).indexOf(secret.subarray(0, 46)), -1, 'no plaintext in the datastore');
  const again = await reopen(target, SMALL.segmentSize, { key });
  const back = await again.fs.read(await again.fs.open('/s.raw', false), 1000, secret.length);
  t.ok(back.equals(secret), 'replayed with the key');
});

t.test('ec:2+1: fsyncs through the log survive a reopen without close', async (t) => {
  const r = rng(SEED + 1);
  const made = await layoutDatastore('ec:2+1', 3, 256 * 1024);
  const states = await workload(made.fs, r, 60, ['/e.raw']);
  t.ok(made.fs.journal.stats.logSyncs > 5, `${made.fs.journal.stats.logSyncs} log syncs`);
  const ds = await Datastore.open(await made.reopen(), {});
  const fs = new Fs(ds);
  await fs.recover();
  t.ok(fs.journal.stats.replayed > 0, `${fs.journal.stats.replayed} entries replayed`);
  t.equal(await contentOf(fs), states[states.length - 1]);
});

t.test('a v3 datastore opens without the oplog and keeps writing v3 commit records', async (t) => {
  const { target, ds } = await memDatastore();
  const v3 = encodeSuperblock({ ...ds.sb, version: 3 });
  for (const at of SB_COPIES) await ds.layout.writeHeader(at, v3);
  const again = await reopen(target);
  t.equal(again.ds.sb.version, 3);
  t.equal(again.fs.journal.enabled, false, 'no oplog');
  const fh = again.fs.addHandle(await again.fs.create('/old.raw', 0o644, ROOT));
  await again.fs.write(fh, 0, Buffer.alloc(5000, 3));
  await again.fs.fsync();
  const slot = await again.ds.layout.readHeader(LIMITS.COMMIT_RING_OFFSET + Number(again.ds.txg % BigInt(LIMITS.COMMIT_SLOTS)) * LIMITS.SLOT_SIZE, 8);
  t.equal(slot.toString(), 'VDFSCM02', 'the commit is a v3 one');
  const third = await reopen(target);
  const back = await third.fs.read(await third.fs.open('/old.raw', false), 0, 5000);
  t.ok(back.equals(Buffer.alloc(5000, 3)), 'and reads back');
});
