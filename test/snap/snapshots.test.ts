// Snapshots on an in-memory datastore: content at the moment taken, across overwrites, deletes
// and reopen; space recounted from the trees after every step (deleting a snapshot frees exactly
// what only it held); verification clean throughout.
import t from 'tap';
import { memDatastore, readWhole, reopen, ROOT, rng, seedFromEnv } from '../helpers/mem.js';
import { recountSpace } from '../helpers/space-check.js';
import type { Filesystem } from '../../src/fs/filesystem.js';
import { verify } from '../../src/fs/commands.js';

const BS = 4096, BLOCKS = 48;

t.test('seeded snapshot workload: contents, space, verify', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}`);
  const rand = rng(seed);
  let { target, ds, fs } = await memDatastore();
  const fh0 = fs.addHandle(await fs.create('/d', 0o644, ROOT));
  fs.release(fh0);
  const model = Buffer.alloc(BLOCKS * BS);
  const snaps = new Map<string, Buffer>();
  let fh = await fs.open('/d', true);
  let n = 0, size = 0; // the model's size, kept by the test itself
  for (let step = 0; step < 120; step++) {
    const r = rand();
    if (r < 0.55) {
      const off = Math.floor(rand() * (model.length - 1));
      const len = Math.min(model.length - off, 1 + Math.floor(rand() * 3 * BS));
      const data = rand() < 0.2 ? Buffer.alloc(len) : Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
      data.copy(model, off);
      size = Math.max(size, off + len);
      await fs.write(fh, off, data);
      if (rand() < 0.3) await fs.fsync();
    } else if (r < 0.8 && snaps.size < 12) {
      const name = `s${n++}`;
      await fs.snapshots.create('/d', name);
      snaps.set(name, Buffer.from(model.subarray(0, size)));
    } else if (snaps.size) {
      const names = [...snaps.keys()];
      const name = names[Math.floor(rand() * names.length)];
      await fs.snapshots.delete('/d', name);
      snaps.delete(name);
    }
    if (step % 10 === 9) {
      await fs.fsync();
      for (const [name, want] of snaps) {
        if (!(await readWhole(fs, `/.snapshots/d/${name}`)).equals(want)) t.fail(`seed ${seed} step ${step}: snapshot ${name} changed`);
      }
      const sp = await recountSpace(ds);
      t.same(sp.mismatches, [], `seed ${seed} step ${step}: space recount`);
      const v = await verify(fs, null);
      t.same(v.alarms, [], `seed ${seed} step ${step}: verify clean`);
    }
    if (step === 60) {
      fs.release(fh);
      await fs.close();
      ({ ds, fs } = await reopen(target));
      fh = await fs.open('/d', true);
    }
  }
  for (const name of [...snaps.keys()]) await fs.snapshots.delete('/d', name);
  await fs.fsync();
  t.same((await recountSpace(ds)).mismatches, [], 'all snapshots deleted: space recount');
  let dead = 0;
  for await (const _ of ds.deadTree.scan()) dead++;
  t.equal(dead, 0, 'dead lists empty once no snapshot is left');
  t.ok((await readWhole(fs, '/d')).equals(model.subarray(0, size)), 'live content, size included');
  fs.release(fh);
});

t.test('snapshot of a directory, list, delete of the file takes its snapshots', async (t) => {
  const { ds, fs } = await memDatastore();
  await fs.mkdir('/vm', 0o755, ROOT);
  for (const f of ['/vm/a', '/vm/b']) {
    const fh = fs.addHandle(await fs.create(f, 0o644, ROOT));
    await fs.write(fh, 0, Buffer.alloc(3 * BS, f.length + f.charCodeAt(4)));
    fs.release(fh);
  }
  const r = await fs.snapshots.create('/vm', 'n1');
  t.same(r.files, ['/vm/a', '/vm/b']);
  const list = await fs.snapshots.list('/');
  t.same(list.map((s) => `${s.path}@${s.name}`), ['/vm/a@n1', '/vm/b@n1']);
  t.equal(list[0].txg, list[1].txg, 'one transaction group');
  t.same((await fs.readdir('/.snapshots/vm')).names.sort(), ['a', 'b']);
  await t.rejects(fs.snapshots.create('/vm/a', 'n1'), { code: 'EXISTS' });
  await t.rejects(fs.open('/.snapshots/vm/a/n1', true), { code: 'READ_ONLY' });
  await t.rejects(fs.unlink('/.snapshots/vm/a/n1'), { code: 'READ_ONLY' });
  await fs.unlink('/vm/a');
  await fs.fsync();
  t.same((await fs.snapshots.list('/')).map((s) => s.path), ['/vm/b']);
  t.same((await recountSpace(ds)).mismatches, []);
});

t.test('a snapshot open for reading cannot be deleted; one restore per file', async (t) => {
  const { fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/f', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(5 * BS, 3));
  await fs.snapshots.create('/f', 'a');
  const sfh = await fs.open('/.snapshots/f/a', false);
  await t.rejects(fs.snapshots.delete('/f', 'a'), { code: 'BUSY' });
  t.ok((await fs.read(sfh, 0, BS)).every((b) => b === 3), 'still reads');
  fs.release(sfh);
  await fs.write(fh, 0, Buffer.alloc(BS, 4));
  const { restoreFile } = await import('../../src/fs/restore.js');
  const [first, second] = await Promise.allSettled([restoreFile(fs, '/f', 'a'), restoreFile(fs, '/f', 'a')]);
  t.equal(first.status, 'fulfilled');
  t.match(second, { status: 'rejected', reason: { code: 'BUSY' } }, 'a second restore of the file waits its turn: refused');
  await fs.snapshots.delete('/f', 'a');
  fs.release(fh);
});

t.test('hidden trees refuse changes at any depth; a file with two names is snapshotted once', async (t) => {
  const { fs } = await memDatastore();
  await t.rejects(fs.create('/.control/x', 0o644, ROOT), { code: 'READ_ONLY' });
  await t.rejects(fs.mkdir('/.snapshots/d', 0o755, ROOT), { code: 'READ_ONLY' });
  await t.rejects(fs.rename('/.control/status', '/s'), { code: 'READ_ONLY' });
  await fs.mkdir('/vm', 0o755, ROOT);
  fs.release(fs.addHandle(await fs.create('/vm/a', 0o644, ROOT)));
  await fs.hardlink('/vm/a', '/vm/b');
  t.same((await fs.snapshots.create('/vm', 'x')).files, ['/vm/a']);
  t.equal((await fs.snapshots.list('/')).length, 1);
});
