// The kernel binding through a real mount: what it does that fuse-native could not (1 MiB
// requests, parallel direct writes reaching the write path together, utimens as asked), open
// files that are unlinked or renamed over, the watchdog after a kill, and fuse-native still
// serving the same datastore.
import t, { type Test } from 'tap';
import { link, open, readdir, rename, stat, unlink, writeFile, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fuseDaemon, isMounted, run, sha256, tool } from '../../helpers/daemon.js';

/** Longest wait for something the kernel does on its own (a RELEASE after close, the watchdog's unmount); only a failing run waits this long. */
const WAIT_MS = 30_000;
const d = await fuseDaemon(t, 'vdfs-kernel-');

async function until(t: Test, what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  let v = await ok();
  while (!v && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 50)); v = await ok(); }
  t.ok(v, what);
}

if (d) {
  await d.start(['--fuse', 'kernel']);
  const m = (p: string) => d.at(p);
  const status = async () => JSON.parse(await readFile(m('.control/status'), 'utf8'));
  const hidden = async () => (await readdir(d.mnt)).filter((n) => n.startsWith('.fuse_hidden'));

  t.test('1 MiB direct writes arrive as 1 MiB requests', async (t) => {
    const before = (await status()).io;
    await run('dd', ['if=/dev/urandom', `of=${m('big.raw')}`, 'bs=1M', 'count=16', 'oflag=direct', 'status=none']);
    const after = (await status()).io;
    t.equal(after.writes - before.writes, 16, 'one request per 1 MiB write');
    t.equal(after.bytesWritten - before.bytesWritten, 16 << 20);
  });

  t.test('parallel direct writes reach the write path together', { skip: !(await tool('fio')) && 'fio missing' }, async (t) => {
    await run('fio', ['--name=par', `--filename=${m('par.raw')}`, '--size=64M', '--rw=randwrite', '--bs=4k', '--ioengine=libaio',
      '--iodepth=16', '--direct=1', '--number_ios=4000', '--randseed=7', '--output-format=json'], { maxBuffer: 1 << 24 });
    const w = (await status()).writePath;
    t.ok(w.sgElements > w.sgArrays, `scatter-gather arrays held more than one element (${w.sgElements} elements in ${w.sgArrays} arrays)`);
  });

  t.test('O_DIRECT writes from 16 threads reach the write path together', { skip: !(await tool('fio')) && 'fio missing' }, async (t) => {
    const before = (await status()).writePath;
    await run('fio', ['--name=thr', `--filename=${m('par.raw')}`, '--size=64M', '--rw=randwrite', '--bs=4k', '--ioengine=psync',
      '--numjobs=16', '--direct=1', '--number_ios=250', '--randseed=8', '--group_reporting', '--output-format=json'], { maxBuffer: 1 << 24 });
    const w = (await status()).writePath;
    const elements = w.sgElements - before.sgElements, arrays = w.sgArrays - before.sgArrays;
    t.ok(elements > arrays, `threads' writes shared arrays (${elements} elements in ${arrays} arrays): the open was direct with parallel writes`);
  });

  t.test('utimens: touch -m and -a set exactly the time asked for', async (t) => {
    await writeFile(m('times.raw'), 'x');
    await run('touch', ['-m', '-d', '2001-02-03 04:05:06.5', m('times.raw')]);
    const a = await stat(m('times.raw'));
    t.equal(a.mtime.toISOString(), new Date('2001-02-03T04:05:06.5').toISOString(), 'mtime');
    await run('touch', ['-a', '-d', '2002-03-04 05:06:07', m('times.raw')]);
    const b = await stat(m('times.raw'));
    t.same([b.atime.toISOString(), b.mtime.toISOString()], [new Date('2002-03-04T05:06:07').toISOString(), a.mtime.toISOString()], 'atime set, mtime kept');
  });

  t.test('an unlinked open file keeps its data until its last close, then is gone', async (t) => {
    const data = randomBytes(3 << 20);
    const fh = await open(m('tmp.raw'), 'w+');
    try {
      await fh.write(data, 0, data.length, 0);
      await unlink(m('tmp.raw'));
      t.notOk((await readdir(d.mnt)).includes('tmp.raw'), 'the name is gone');
      await fh.write(Buffer.from('tail'), 0, 4, data.length);
      const back = Buffer.alloc(data.length + 4);
      await fh.read(back, 0, back.length, 0);
      t.ok(back.equals(Buffer.concat([data, Buffer.from('tail')])), 'reads and writes go on through the handle');
    } finally { await fh.close(); }
    await until(t, 'no .fuse_hidden file is left after the close', async () => (await hidden()).length === 0);
  });

  t.test('a file renamed over while open is still read through its handle', async (t) => {
    const oldData = randomBytes(1 << 20), newData = randomBytes(1 << 20);
    await writeFile(m('a.raw'), oldData); await writeFile(m('b.raw'), newData);
    const fh = await open(m('a.raw'), 'r');
    try {
      await rename(m('b.raw'), m('a.raw'));
      const back = Buffer.alloc(oldData.length);
      await fh.read(back, 0, back.length, 0);
      t.ok(back.equals(oldData), 'the handle reads the old file');
      t.ok((await readFile(m('a.raw'))).equals(newData), 'the name holds the new one');
    } finally { await fh.close(); }
    await until(t, 'the old file is removed after the close', async () => (await hidden()).length === 0);
  });

  t.test('set-aside files: only those vdfs set aside are removed, and none is left behind', async (t) => {
    await writeFile(m('.fuse_hidden-mine'), 'keep');
    await (await open(m('.fuse_hidden-mine'), 'r')).close();
    t.equal(await readFile(m('.fuse_hidden-mine'), 'utf8'), 'keep', 'a file of that name that was never unlinked survives its close');
    await unlink(m('.fuse_hidden-mine'));
    for (let i = 0; i < 50; i++) { // the close's RELEASE travels on its own: an unlink may overtake it
      await writeFile(m(`race${i}`), 'x');
      const fh = await open(m(`race${i}`), 'r');
      await Promise.all([fh.close(), unlink(m(`race${i}`))]);
    }
    await until(t, 'closing and unlinking at once leaves no set-aside file', async () => (await hidden()).length === 0);
  });

  t.test('a rename between two names of one file changes nothing', async (t) => {
    await writeFile(m('one.raw'), 'same');
    await link(m('one.raw'), m('two.raw'));
    const fh = await open(m('two.raw'), 'r');
    try {
      await rename(m('one.raw'), m('two.raw'));
      t.same((await readdir(d.mnt)).filter((n) => n === 'one.raw' || n === 'two.raw').sort(), ['one.raw', 'two.raw'], 'both names are still there');
      t.same(await hidden(), [], 'and nothing was set aside');
    } finally { await fh.close(); }
    await unlink(m('one.raw')); await unlink(m('two.raw'));
  });

  t.test('fallocate: -l grows the size, -p punches a hole (zeros, kept after a remount), -z zeros, -c is refused (by the kernel)', async (t) => {
    const f = m('alloc.raw'), MiB = 1 << 20;
    await run('fallocate', ['-l', '64M', f]);
    t.equal((await stat(f)).size, 64 * MiB, 'fallocate -l: the size');
    const data = randomBytes(4 * MiB);
    const fh = await open(f, 'r+');
    try { await fh.write(data, 0, data.length, 0); await fh.sync(); } finally { await fh.close(); }
    await run('fallocate', ['-p', '-o', '100000', '-l', String(2 * MiB), f]);
    data.fill(0, 100000, 100000 + 2 * MiB);
    t.ok((await readFile(f)).subarray(0, 4 * MiB).equals(data), 'the hole reads zeros, the rest is kept');
    await run('fallocate', ['-z', '-o', String(63 * MiB), '-l', String(2 * MiB), f]);
    t.equal((await stat(f)).size, 65 * MiB, 'fallocate -z past the end grows the size');
    await t.rejects(run('fallocate', ['-c', '-o', '0', '-l', String(MiB), f]), /not supported/, 'collapse range: EOPNOTSUPP (the kernel refuses modes FUSE does not carry before asking the daemon)');
    const st = await status();
    t.ok(st.io.fallocates >= 3 && st.io.bytesZeroed >= 2 * MiB, `status counts them (${st.io.fallocates} calls, ${st.io.bytesZeroed} bytes zeroed)`);
    const want = await sha256(f);
    await d.stop();
    await d.start(['--fuse', 'kernel']);
    t.equal(await sha256(f), want, 'the same content after a remount');
    await unlink(f);
  });

  t.test('lseek SEEK_DATA / SEEK_HOLE: holes where never written, data where written', async (t) => {
    const f = m('sparse.raw');
    await run('fallocate', ['-l', '8M', f]);
    await run('dd', ['if=/dev/urandom', `of=${f}`, 'bs=1M', 'seek=4', 'count=1', 'conv=notrunc,fsync', 'status=none']);
    const py = 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(fd,0,os.SEEK_DATA), os.lseek(fd,4<<20,os.SEEK_HOLE), os.lseek(fd,6<<20,os.SEEK_HOLE))';
    t.equal((await run('python3', ['-c', py, f])).stdout.trim(), `${4 << 20} ${5 << 20} ${6 << 20}`, 'first data at 4 MiB, a hole from 5 MiB, 6 MiB in a hole');
    await run('sh', ['-c', `echo 'snapshot create sparse.raw s1' > ${m('.control/command')}`]);
    const snap = 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(fd,0,os.SEEK_DATA), os.lseek(fd,0,os.SEEK_HOLE))';
    t.equal((await run('python3', ['-c', snap, m('.snapshots/sparse.raw/s1')])).stdout.trim(), `0 ${8 << 20}`, 'a snapshot file is data to its end (the generic answer)');
    await run('sh', ['-c', `echo 'snapshot delete sparse.raw s1' > ${m('.control/command')}`]);
    await unlink(f);
  });

  t.test('a killed daemon: the watchdog unmounts, and fuse-native serves the same datastore', async (t) => {
    const want = await sha256(m('big.raw'));
    await run('sync', []);
    const c = d.child!;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    d.child = null;
    await until(t, 'the dead mount is gone without help', async () => !(await isMounted(d.mnt)));
    await d.start(['--fuse', 'native']);
    t.equal(await sha256(m('big.raw')), want, 'fuse-native reads what the kernel binding wrote');
    await run('dd', ['if=/dev/urandom', `of=${m('native.raw')}`, 'bs=1M', 'count=4', 'conv=fsync', 'status=none']);
    const n = await sha256(m('native.raw'));
    await d.stop();
    await d.start(['--fuse', 'kernel']);
    t.equal(await sha256(m('native.raw')), n, 'and the kernel binding reads what fuse-native wrote');
  });
}
