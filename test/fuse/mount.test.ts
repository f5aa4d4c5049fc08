// Through a real FUSE mount, with the daemon as a child process.
import t from 'tap';
import { mkdir, open, readdir, rename, rm, rmdir, statfs, unlink, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fuseDaemon, run, sha256, tool } from '../helpers/daemon.js';

const d = await fuseDaemon(t);
if (d) {
  await d.start();
  const m = (p: string) => d.at(p);
  const MB = Number(process.env.VDFS_DD_MB ?? 256);

  t.test(`dd ${MB} MiB of random data; same sha256 after unmount and remount`, async (t) => {
    const src = join(d.dir, '..', 'random.bin');
    await run('dd', ['if=/dev/urandom', `of=${src}`, 'bs=1M', `count=${MB}`, 'status=none']);
    await run('dd', [`if=${src}`, `of=${m('big.raw')}`, 'bs=1M', 'conv=fsync', 'status=none']);
    const want = await sha256(src);
    t.equal(await sha256(m('big.raw')), want, 'equal while mounted');
    await d.stop();
    await d.start();
    t.equal(await sha256(m('big.raw')), want, 'equal after remount');
    await rm(src);
  });

  t.test('qemu-img: sparse 4 GiB raw, convert to qcow2 on the mount, check clean', { skip: !(await tool('qemu-img')) && 'qemu-img missing' }, async (t) => {
    await run('qemu-img', ['create', '-f', 'raw', m('sparse.raw'), '4G']);
    await run('dd', ['if=/dev/urandom', `of=${m('sparse.raw')}`, 'bs=64k', 'count=16', 'seek=1000', 'conv=notrunc', 'status=none']);
    await run('qemu-img', ['convert', '-O', 'qcow2', m('sparse.raw'), m('disk.qcow2')]);
    const check = await run('qemu-img', ['check', m('disk.qcow2')]);
    t.match(check.stdout, /No errors were found/);
    const cmp = await run('qemu-img', ['compare', m('sparse.raw'), m('disk.qcow2')]);
    t.match(cmp.stdout, /identical/);
    await unlink(m('sparse.raw'));
    await unlink(m('disk.qcow2'));
  });

  t.test('fio random writes with crc32c verification over 256 MiB', { skip: !(await tool('fio')) && 'fio missing' }, async (t) => {
    const r = await run('fio', ['--name=rw', `--filename=${m('fio.raw')}`, '--size=256M', '--rw=randwrite', '--bs=4k',
      '--ioengine=psync', '--verify=crc32c', '--do_verify=1', '--number_ios=8192', '--output-format=json', '--randseed=1234'], { maxBuffer: 1 << 24 });
    const job = JSON.parse(r.stdout).jobs[0];
    t.equal(job.error, 0, 'fio reports no error (verification included)');
    t.ok(job.write.io_bytes > 0, `wrote ${job.write.io_bytes} bytes`);
    await unlink(m('fio.raw'));
  });

  t.test('namespace errors: ENOENT, EEXIST, ENOTEMPTY', async (t) => {
    await mkdir(m('vm1'));
    await t.rejects(mkdir(m('vm1')), { code: 'EEXIST' });
    await writeFile(m('vm1/disk0.raw'), 'x');
    await t.rejects(rmdir(m('vm1')), { code: 'ENOTEMPTY' });
    await t.rejects(unlink(m('vm1/nothing')), { code: 'ENOENT' });
    await t.rejects(rename(m('vm1/nothing'), m('vm1/x')), { code: 'ENOENT' });
    await t.rejects(mkdir(m('no/such/parent')), { code: 'ENOENT' });
    await rename(m('vm1/disk0.raw'), m('vm1/disk1.raw'));
    t.same((await readdir(m('vm1'))).sort(), ['disk1.raw']);
    await mkdir(m('vm2'));
    await writeFile(m('vm2/a'), 'a');
    await t.rejects(rename(m('vm1'), m('vm2')), { code: 'ENOTEMPTY' });
    await unlink(m('vm1/disk1.raw'));
    await rmdir(m('vm1'));
    await t.rejects(rmdir(m('vm1')), { code: 'ENOENT' });
    await rm(m('vm2'), { recursive: true });
    t.same((await readdir(d.mnt)).filter((n) => !n.startsWith('.')).sort(), ['big.raw']);
    t.ok((await readdir(d.mnt)).includes('.control'), '.control is listed');
    const status = JSON.parse(await readFile(m('.control/status'), 'utf8'));
    t.ok(status.txg > 0 && status.space.usedBytes > 0, 'status has txg and space figures');
    await t.rejects(writeFile(m('.control/status'), 'x'), { code: 'EROFS' }, 'status is read-only');
    await t.rejects(mkdir(m('.control')), { code: 'EEXIST' });
  });

  t.test('symlinks, chmod, truncate', async (t) => {
    await writeFile(m('f.raw'), Buffer.alloc(100000, 7));
    await run('ln', ['-s', 'f.raw', m('link')]);
    t.equal((await run('readlink', [m('link')])).stdout.trim(), 'f.raw');
    await run('chmod', ['600', m('f.raw')]);
    t.equal((await run('stat', ['-c', '%a', m('f.raw')])).stdout.trim(), '600');
    await run('truncate', ['-s', '1000', m('f.raw')]);
    await run('truncate', ['-s', '50000', m('f.raw')]);
    const b = await readFile(m('f.raw'));
    t.equal(b.length, 50000);
    t.ok(b.subarray(0, 1000).every((x) => x === 7) && b.subarray(1000).every((x) => x === 0), 'truncated tail reads zeros');
    await unlink(m('link'));
    await unlink(m('f.raw'));
  });

  t.test('statfs: used space grows with data and shrinks after unlink', async (t) => {
    const used = async () => { const s = await statfs(d.mnt); return (s.blocks - s.bfree) * s.bsize; };
    const fsync = async (p: string) => { const f = await open(p, 'a'); await f.sync(); await f.close(); };
    await writeFile(m('marker'), 'm');
    await fsync(m('marker')); // commits earlier tests' unlinks first
    const u0 = await used();
    await run('dd', ['if=/dev/urandom', `of=${m('space.raw')}`, 'bs=1M', 'count=64', 'conv=fsync', 'status=none']);
    const u1 = await used();
    t.ok(u1 - u0 >= 60 * 2 ** 20, `used grew by ${(u1 - u0) >> 20} MiB after writing 64 MiB`);
    await unlink(m('space.raw'));
    await fsync(m('marker')); // commits the unlink
    const u2 = await used();
    t.ok(u1 - u2 >= 60 * 2 ** 20, `used shrank by ${(u1 - u2) >> 20} MiB after unlink`);
    await unlink(m('marker'));
  });

  t.test('two processes writing two files at once', async (t) => {
    const a = join(d.dir, '..', 'a.bin'), b = join(d.dir, '..', 'b.bin');
    await run('dd', ['if=/dev/urandom', `of=${a}`, 'bs=1M', 'count=48', 'status=none']);
    await run('dd', ['if=/dev/urandom', `of=${b}`, 'bs=1M', 'count=48', 'status=none']);
    await Promise.all([
      run('dd', [`if=${a}`, `of=${m('pa.raw')}`, 'bs=64k', 'conv=fsync', 'status=none']),
      run('dd', [`if=${b}`, `of=${m('pb.raw')}`, 'bs=4k', 'oflag=direct', 'conv=fsync', 'status=none']),
    ]);
    t.equal(await sha256(m('pa.raw')), await sha256(a));
    t.equal(await sha256(m('pb.raw')), await sha256(b));
    await rm(a); await rm(b);
  });
}
