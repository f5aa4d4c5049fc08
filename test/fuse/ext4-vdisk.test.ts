// A file system inside a vdisk: a sparse vdisk on the mount is attached with `losetup`, made ext4,
// mounted, filled with a few thousand files in nested directories (seeded sizes and bytes) of
// which every third is deleted again; after unmounting, `e2fsck -fn` finds it clean, both on the
// loop device and, after a vdfs remount, on the vdisk file itself; attached again read-only, every
// kept file holds its bytes and no deleted one is back. EXT4_FILES sets the count (default 3000).
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fuseDaemon, isMounted, run, tool } from '../helpers/daemon.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const FILES = Number(process.env.EXT4_FILES ?? 3000);
const VDISK_MIB = 512;
const MAX_FILE = 32 * 1024;
const DIRS = 50;
const seed = seedFromEnv();

async function missing(): Promise<string | null> {
  for (const name of ['losetup', 'mkfs.ext4', 'e2fsck']) if (!(await tool(name))) return `skipped: ${name} is missing`;
  try { await run('losetup', ['-f']); } catch { return 'skipped: no free loop device (losetup -f)'; }
  return null;
}

const why = await missing();
if (why) { t.comment(why); t.plan(0, why); } else {
  const d = await fuseDaemon(t, 'vdfs-ext4-');
  if (d) {
    t.comment(`seed ${seed} (SEED=${seed} repeats it), ${FILES} files`);
    const rand = rng(seed);
    const vdisk = d.at('ext4.vdisk');
    const fsMnt = join(d.base, 'ext4');
    let loop = '';
    const detach = async (): Promise<void> => {
      if (await isMounted(fsMnt)) await run('umount', [fsMnt]).catch(() => run('umount', ['-l', fsMnt]));
      if (loop) await run('losetup', ['-d', loop]).catch(() => {});
      loop = '';
    };
    const attach = async (...args: string[]): Promise<void> => {
      loop = (await run('losetup', ['--find', '--show', ...args, vdisk])).stdout.trim();
    };
    const kept = new Map<string, string>(); // path in the ext4 -> sha256 of its bytes
    const deleted: string[] = [];
    await d.start();
    await mkdir(fsMnt);

    t.test('mkfs.ext4 on a loop device over the vdisk, files written and deleted, e2fsck clean', async (t) => {
      try {
        await run('truncate', ['-s', `${VDISK_MIB}M`, vdisk]);
        await attach();
        t.match(loop, /^\/dev\/loop\d+$/, `attached at ${loop}`);
        await run('mkfs.ext4', ['-q', '-F', loop]);
        await run('mount', [loop, fsMnt]);
        for (let i = 0; i < DIRS; i++) await mkdir(join(fsMnt, `d${i}`));
        for (let i = 0; i < FILES; i++) {
          const p = `d${i % DIRS}/f${i}`;
          const bytes = Buffer.alloc(Math.floor(rand() * MAX_FILE));
          for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
          await writeFile(join(fsMnt, p), bytes);
          if (i % 3 === 0) { await rm(join(fsMnt, p)); deleted.push(p); } else kept.set(p, createHash('sha256').update(bytes).digest('hex'));
        }
        t.equal(kept.size + deleted.length, FILES, `${kept.size} kept, ${deleted.length} deleted`);
        await run('umount', [fsMnt]);
        const fsck = await run('e2fsck', ['-fn', loop]).then((r) => ({ code: 0, out: r.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }));
        t.equal(fsck.code, 0, 'e2fsck -fn on the loop device: clean');
        if (fsck.code !== 0) t.comment(fsck.out);
      } finally { await detach(); }
    });

    t.test('after a vdfs remount: e2fsck on the vdisk file, then every file read back', async (t) => {
      await d.stop();
      await d.start();
      const fsck = await run('e2fsck', ['-fn', vdisk]).then(() => 0, (e: { code: number }) => e.code);
      t.equal(fsck, 0, 'e2fsck -fn on the vdisk file on the mount: clean');
      try {
        await attach('--read-only');
        await run('mount', ['-o', 'ro', loop, fsMnt]);
        let bad = 0;
        for (const [p, sha] of kept) {
          const got = createHash('sha256').update(await readFile(join(fsMnt, p))).digest('hex');
          if (got !== sha) { bad++; if (bad <= 5) t.comment(`${p}: wrong bytes`); }
        }
        t.equal(bad, 0, `all ${kept.size} kept files hold their bytes`);
        let names = 0, back = 0;
        const gone = new Set(deleted);
        for (let i = 0; i < DIRS; i++) {
          for (const n of await readdir(join(fsMnt, `d${i}`))) { names++; if (gone.has(`d${i}/${n}`)) back++; }
        }
        t.equal(names, kept.size, 'the directories list exactly the kept files');
        t.equal(back, 0, 'no deleted file is back');
      } finally { await detach(); }
    });
  }
}
