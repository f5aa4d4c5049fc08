// Namespace and data semantics on an in-memory datastore, across commits and reopen.
import t from 'tap';
import { memDatastore, reopen, ROOT } from '../helpers/mem.js';

t.test('truncate then rewrite in one txg keeps space accounting right', async (t) => {
  const { target, ds, fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/a', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(4096 * 4, 1));
  await fs.fsync();
  const used1 = ds.space.usedBytes();
  await fs.truncate(null, fh, 0);
  await fs.write(fh, 0, Buffer.alloc(4096 * 4, 2));
  await fs.fsync();
  await fs.write(fh, 0, Buffer.alloc(4096 * 4, 3));
  await fs.fsync();
  t.ok(Math.abs(ds.space.usedBytes() - used1) < 4096, `used ${ds.space.usedBytes()} ≈ ${used1}`);
  const r = await reopen(target);
  const st = await r.fs.getattr('/a');
  t.equal(st.size, 16384);
  t.ok((await r.fs.read(await r.fs.open('/a', false), 0, 16384)).every((b) => b === 3));
});

t.test('hard links and symlinks survive reopen', async (t) => {
  const { target, fs } = await memDatastore();
  fs.release(fs.addHandle(await fs.create('/a', 0o644, ROOT)));
  await fs.hardlink('/a', '/b');
  await fs.symlink('/target/path', '/l', ROOT);
  await fs.fsync();
  const r = await reopen(target);
  t.equal((await r.fs.getattr('/b')).nlink, 2);
  t.equal(await r.fs.readlink('/l'), '/target/path');
  await r.fs.unlink('/a');
  await r.fs.fsync();
  t.equal((await r.fs.getattr('/b')).nlink, 1, 'the other name still works');
});

t.test('unlink frees space after the commit; a commit racing an unlink does not leak', async (t) => {
  const { ds, fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/big', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(200_000, 9));
  fs.release(fh);
  const sync = fs.fsync();
  await new Promise((r) => setImmediate(r)); // the commit above freezes first
  await fs.unlink('/big');
  await sync;
  t.ok(fs.hasChanges(), 'the unlink landed after the freeze, in the next transaction group');
  t.ok(ds.space.usedBytes() > 200_000, 'the file is still there after the first commit');
  await fs.fsync();
  t.ok(ds.space.usedBytes() < 20_000, `used ${ds.space.usedBytes()} bytes after unlink`);
  t.notOk(fs.hasChanges());
});

t.test('bytes past EOF stay zero: partial writes, shrink, then grow', async (t) => {
  const { target, fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/z', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(10_000, 0x11));
  await fs.write(fh, 9_000, Buffer.alloc(100, 0x22)); // partial, inside the last block
  await fs.fsync();
  await fs.truncate(null, fh, 5_000);                  // inside a block
  await fs.truncate(null, fh, 20_000);                 // grow: the rest must read as zeros
  const want = Buffer.alloc(20_000);
  want.fill(0x11, 0, 5_000);
  t.ok((await fs.read(fh, 0, 20_000)).equals(want), 'before commit');
  await fs.fsync();
  const r = await reopen(target);
  t.ok((await r.fs.read(await r.fs.open('/z', false), 0, 20_000)).equals(want), 'after reopen');
});

t.test('every change fails as read-only once a commit has failed', async (t) => {
  const { target, fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/w', 0o644, ROOT));
  target.sync = async () => { throw new Error('disk gone'); };
  await fs.write(fh, 0, Buffer.alloc(100, 1));
  await t.rejects(fs.fsync(), /disk gone/);
  await t.rejects(fs.write(fh, 0, Buffer.alloc(100, 2)), { code: 'READ_ONLY' });
  await t.rejects(fs.truncate(null, fh, 0), { code: 'READ_ONLY' }, 'truncate');
  await t.rejects(fs.create('/other', 0o644, ROOT), { code: 'READ_ONLY' }, 'create');
  await t.rejects(fs.unlink('/w'), { code: 'READ_ONLY' }, 'unlink');
  await t.rejects(fs.chmod('/w', 0o600), { code: 'READ_ONLY' }, 'chmod');
});
