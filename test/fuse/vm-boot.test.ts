// VMs boot from the mount: the VM of scripts/vm-image (Debian's kernel, a busybox initramfs with
// the virtio and ext4 modules, an ext4 root) is copied onto a vdfs mount and booted with
// qemu-system-x86_64, kernel, initramfs and disk all read from the mount; then once more from a
// qcow2 copy made with `qemu-img convert` on the mount. Each boot passes when the guest reports
// boot=ok data=ok (it wrote random data, dropped its caches and read it back) and the host finds
// the ext4 root clean (`e2fsck -fn`) holding the bytes the guest wrote (scripts/vm-boot). Boot
// times against the raw disk are scripts/bench-boot's, not this test's.
import t, { type Test } from 'tap';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fuseDaemon, PROJECT, run, sha256, tool } from '../helpers/daemon.js';

const IMAGE_FILES = ['vmlinuz', 'initrd.img', 'root.img'];
const BUILD_MS = 15 * 60_000;

async function missing(): Promise<string | null> {
  for (const name of ['qemu-system-x86_64', 'qemu-img', 'mkfs.ext4', 'debugfs', 'apt-get']) {
    if (!(await tool(name))) return `skipped: ${name} is missing (scripts/setup --test installs it)`;
  }
  return null;
}

const why = await missing();
if (why) { t.comment(why); t.plan(0, why); } else {
  const d = await fuseDaemon(t, 'vdfs-vm-');
  if (d) {
    const image = (await run(join(PROJECT, 'scripts/vm-image'), [], { timeout: BUILD_MS })).stdout.trim().split('\n').pop()!;
    t.comment(`VM image: ${image}`);
    await d.start();

    const written = new Map<string, string>(); // disk file -> sha256 of the /data.bin its guest wrote
    const boot = async (t: Test, format: 'raw' | 'qcow2'): Promise<void> => {
      const r = await run(join(PROJECT, 'scripts/vm-boot'), [d.mnt, format], { timeout: BUILD_MS }).catch((e: { stdout: string; stderr: string }) => e);
      t.comment(r.stdout.trim());
      if (r.stderr) t.comment(r.stderr.trim());
      t.match(r.stdout, /^VDFS-VM-CHECK boot=ok data=ok sha256=[0-9a-f]{64} kernel=\S+$/m, `${format}: the guest booted from the mount and read back what it wrote`);
      const sha = /sha256=([0-9a-f]{64})/.exec(r.stdout)?.[1];
      if (sha) written.set(format === 'raw' ? 'root.img' : 'root.qcow2', sha);
      t.match(r.stdout, /^boot_ms=\d+ accel=(kvm|tcg) host=ok$/m, `${format}: the root on the mount is clean and holds the guest's bytes`);
    };

    t.test('kernel, initramfs and raw disk copied onto the mount read back whole', async (t) => {
      for (const f of IMAGE_FILES) {
        await copyFile(join(image, f), d.at(f));
        t.equal(await sha256(d.at(f)), await sha256(join(image, f)), f);
      }
    });
    t.test('boot from the raw disk on the mount', (t) => boot(t, 'raw'));
    t.test('boot from a qcow2 copy made on the mount', async (t) => {
      await run('qemu-img', ['convert', '-O', 'qcow2', d.at('root.img'), d.at('root.qcow2')]);
      const info = JSON.parse((await run('qemu-img', ['info', '--output=json', d.at('root.qcow2')])).stdout) as { format: string };
      t.equal(info.format, 'qcow2', 'qemu-img sees a qcow2 image');
      await boot(t, 'qcow2');
    });
    t.test('after a remount, both disks are clean and hold what their guests wrote', async (t) => {
      await d.stop();
      await d.start();
      for (const f of ['root.img', 'root.qcow2']) {
        const img = f === 'root.img' ? d.at(f) : join(d.base, 'root-from-qcow2.img');
        if (f !== 'root.img') await run('qemu-img', ['convert', '-O', 'raw', d.at(f), img]);
        const r = await run('e2fsck', ['-fn', img]).then(() => 0, (e: { code: number }) => e.code);
        t.equal(r, 0, `${f}: e2fsck -fn clean after remount`);
        const data = join(d.base, `${f}.data.bin`);
        await run('debugfs', ['-R', `dump /data.bin ${data}`, img]);
        t.equal(await sha256(data), written.get(f), `${f}: /data.bin has the sha256 its guest printed`);
      }
    });
  }
}
