// Snapshots through a real mount: /.control/command (echo and the CLI), /.snapshots, EROFS,
// content across remount and kill -9, restore through the mount, malformed commands refused
// while the daemon stays up, and the CLI on the unmounted datastore.
import t from 'tap';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fuseDaemon, run, sha256, tool } from '../helpers/daemon.js';
import { badCommand } from '../helpers/bad-commands.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const BAD = Number(process.env.BAD_COMMANDS ?? 10_000);
const d = await fuseDaemon(t);
if (d) {
  await d.start();
  const m = (p: string) => d.at(p);
  const vdfs = (...args: string[]) => d.vdfs(...args);
  const disk = m('vm1/disk0.raw');
  const sums: Record<string, string> = {};

  t.test('snapshot by echo into /.control/command; the snapshot keeps its content', async (t) => {
    await mkdir(m('vm1'));
    await run('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=1M', 'count=8', 'conv=fsync', 'status=none']);
    await run('dd', ['if=/dev/urandom', `of=${m('vm1/disk1.raw')}`, 'bs=1M', 'count=2', 'conv=fsync', 'status=none']);
    sums.nightly = await sha256(disk);
    await run('sh', ['-c', `echo 'snapshot create vm1/disk0.raw nightly' > ${m('.control/command')}`]);
    await run('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=64k', 'count=20', 'seek=7', 'conv=notrunc,fsync', 'status=none']);
    sums.live = await sha256(disk);
    t.same(await readdir(m('.snapshots/vm1/disk0.raw')), ['nightly']);
    t.same(await readdir(m('.snapshots/vm1')), ['disk0.raw'], 'files without snapshots are not listed');
    t.equal(await sha256(m('.snapshots/vm1/disk0.raw/nightly')), sums.nightly, 'snapshot = content when taken');
    t.not(sums.live, sums.nightly);
    await t.rejects(open(m('.snapshots/vm1/disk0.raw/nightly'), 'r+'), { code: 'EROFS' });
    await t.rejects(run('sh', ['-c', `echo x > ${m('.snapshots/vm1/disk0.raw/new')}`]));
    if (await tool('qemu-img')) t.match((await run('qemu-img', ['info', m('.snapshots/vm1/disk0.raw/nightly')])).stdout, /virtual size: 8 MiB/);
  });

  t.test('CLI through the mountpoint: snapshot a directory, list', async (t) => {
    const r = await vdfs('snapshot', 'create', d.mnt, 'vm1', 'second');
    t.same(r.files, ['/vm1/disk0.raw', '/vm1/disk1.raw']);
    sums.second = sums.live;
    const list = (await vdfs('snapshot', 'list', d.mnt, 'vm1')).snapshots as { path: string; name: string; parent: string | null }[];
    t.same(list.map((s) => `${s.path}@${s.name}<${s.parent}`), ['/vm1/disk0.raw@nightly<null', '/vm1/disk0.raw@second<nightly', '/vm1/disk1.raw@second<null']);
    await t.rejects(vdfs('snapshot', 'create', d.mnt, 'vm1', 'second'), /already has a snapshot/);
    t.match(await readFile(m('.control/last-error'), 'utf8'), /already has a snapshot named second/);
  });

  t.test('snapshots survive remount and kill -9', async (t) => {
    await d.stop();
    await d.start();
    t.equal(await sha256(m('.snapshots/vm1/disk0.raw/nightly')), sums.nightly);
    await run('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=4k', 'count=64', 'seek=100', 'conv=notrunc', 'status=none']);
    await d.kill();
    await d.start();
    t.equal(await sha256(m('.snapshots/vm1/disk0.raw/nightly')), sums.nightly, 'after kill -9');
    t.equal(await sha256(m('.snapshots/vm1/disk0.raw/second')), sums.second, 'after kill -9');
  });

  t.test('restore through the mount moves only what differs; newer snapshots stay', async (t) => {
    const present = await sha256(disk);
    const r = (await vdfs('restore', d.mnt, 'vm1/disk0.raw', 'nightly')).restored;
    t.equal(await sha256(disk), sums.nightly, 'content = the snapshot');
    // Since nightly: 32 KiB blocks 14..53 (the 64 KiB writes), and 12..13 if the unsynced 4 KiB writes before kill -9 landed.
    t.ok(r.blocksMoved >= 40 && r.blocksMoved <= 42, `moved ${r.blocksMoved} of 256 blocks`);
    t.equal(await sha256(m('.snapshots/vm1/disk0.raw/second')), sums.second, 'newer snapshot unchanged');
    t.match(r.commonSnapshot, /^before-restore-/);
    t.equal(await sha256(m(`.snapshots/vm1/disk0.raw/${r.commonSnapshot}`)), present, 'the common snapshot holds the present before the restore');
  });

  t.test(`${BAD} malformed commands through the mount: EINVAL each, daemon alive, nothing changed`, async (t) => {
    const seed = seedFromEnv();
    const rand = rng(seed);
    const before = JSON.stringify(await vdfs('snapshot', 'list', d.mnt)) + (await sha256(disk));
    const fh = await open(m('.control/command'), constants.O_RDWR | constants.O_DIRECT);
    let wrong = 0;
    try {
      for (let i = 0; i < BAD; i++) {
        const { kind, bytes } = badCommand(rand, { files: ['vm1/disk0.raw', '/vm1', 'vm1/disk1.raw'], snaps: [['vm1/disk0.raw', 'nightly'], ['/vm1', 'second']] });
        const code = await fh.write(bytes, 0, bytes.length, 0).then(() => 'accepted', (e: NodeJS.ErrnoException) => e.code);
        if (code !== 'EINVAL' && wrong++ < 5) t.fail(`seed ${seed} #${i} ${kind}: ${code}`);
      }
    } finally { await fh.close(); }
    t.equal(wrong, 0, `all refused with EINVAL (seed ${seed})`);
    t.equal(d.child?.exitCode, null, 'daemon alive');
    t.equal(JSON.stringify(await vdfs('snapshot', 'list', d.mnt)) + (await sha256(disk)), before, 'state unchanged');
  });

  t.test('verify and list on the unmounted datastore', async (t) => {
    t.same((await vdfs('verify', d.mnt)).verified.alarms, [], 'mounted: clean');
    await d.stop();
    const v = (await vdfs('verify', d.dir)).verified;
    t.same(v.alarms, []);
    t.ok(v.versions >= 6, `${v.versions} versions verified`);
    t.equal((await vdfs('snapshot', 'list', d.dir, 'vm1/disk0.raw')).snapshots.length, 3);
    await vdfs('snapshot', 'delete', d.dir, 'vm1', 'second');
    t.equal((await vdfs('snapshot', 'list', d.dir)).snapshots.length, 2);
  });
}
