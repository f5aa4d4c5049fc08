/**
 * Mounting with the kernel binding: open /dev/fuse, let mount(8) make the mount with that
 * descriptor (`-o fd=3`, handed to it as its fourth stdio entry), and serve the connection in
 * this process. Needs CAP_SYS_ADMIN (root); see native-notes/kernel-binding.md.
 *
 * A watchdog child waits on a pipe from this process; when the pipe closes without a clean
 * unmount (the daemon was killed), it lazily unmounts the dead mount, but only if the mount at
 * that path is still this connection's (same device number).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { LIMITS } from '../../limits.js';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Filesystem } from '../../fs/filesystem.js';
import { NodeTable } from './nodes.js';
import { makeHandlers } from './ops.js';
import { Session } from './session.js';

type Log = ConstructorParameters<typeof Session>[2];
export const FSTYPE = 'fuse.vdfs';
const WATCHDOG = fileURLToPath(new URL('./watchdog.js', import.meta.url));

/** Runs a program; resolves with its exit code and what it printed on stderr. */
function runProgram(cmd: string, args: string[], extraFd?: number): Promise<{ code: number; err: string }> {
  return new Promise((res) => {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'ignore', 'pipe'];
    if (extraFd !== undefined) stdio.push(extraFd);
    const c = spawn(cmd, args, { stdio });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', (e) => res({ code: -1, err: e.message }));
    c.on('close', (code) => res({ code: code ?? -1, err: err.trim() }));
  });
}

/** mountinfo's major:minor of the vdfs mount at `mnt` (the topmost, if stacked), or null. */
export async function mountDevice(mnt: string): Promise<string | null> {
  const want = resolve(mnt).replace(/ /g, '\\040');
  let dev: string | null = null;
  for (const l of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const f = l.split(' ');
    const sep = f.indexOf('-');
    if (f[4] === want && f[sep + 1] === FSTYPE) dev = f[2];
  }
  return dev;
}

/** Whether p settled within ms. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([p.then(() => true), new Promise<boolean>((res) => { timer = setTimeout(res, ms, false); })]);
  clearTimeout(timer);
  return settled;
}

/** Aborts a FUSE connection through fusectl (mounted at /sys/fs/fuse/connections if it is not). */
async function abortConnection(dev: string): Promise<void> {
  const ctl = '/sys/fs/fuse/connections';
  if (!(await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${ctl} `)) await runProgram('mount', ['-t', 'fusectl', 'none', ctl]);
  await writeFile(`${ctl}/${dev.split(':')[1]}/abort`, '1').catch(() => undefined);
}

export interface KernelMount { unmount(): Promise<void>; session: Session; nodes: NodeTable }

export async function mountKernel(fs: Filesystem, mountpoint: string, log: Log): Promise<KernelMount> {
  const mnt = resolve(mountpoint);
  const fd = openSync('/dev/fuse', 'r+');
  const nodes = new NodeTable();
  let initDone!: () => void;
  const init = new Promise<void>((r) => { initDone = r; });
  const session = new Session(fd, makeHandlers(fs, nodes, initDone), log, (pieces) => fs.replied(pieces));
  const uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0;
  const o = [`fd=3`, 'rootmode=40000', `user_id=${uid}`, `group_id=${gid}`, 'default_permissions', 'nosuid', 'nodev'];
  const r = await runProgram('mount', ['-i', '-n', '-t', FSTYPE, '-o', o.join(','), 'vdfs', mnt], fd);
  if (r.code !== 0) { closeSync(fd); throw new Error(`mount failed: ${r.err || `exit ${r.code}`}`); }
  session.start();
  const dev = await mountDevice(mnt);
  // The watchdog first: a daemon killed from here on leaves no dead mount behind.
  const dog = spawn(process.execPath, [WATCHDOG, mnt, dev ?? ''], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void }).unref?.();
  dog.stdin!.on('error', () => undefined);
  // The kernel's read-ahead for the mount starts at 128 KiB and INIT's reply can only lower it
  // (so this waits for INIT); sysfs raises it to what one request carries (buffered sequential
  // reads: 222 -> 306 MB/s here).
  await within(init, LIMITS.FUSE_CLOSE_WAIT_MS);
  if (dev) await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(LIMITS.FUSE_READ_AHEAD_KB)).catch((e) => log.warn({ err: e }, 'read-ahead not raised'));
  let unmounted = false;
  return {
    session, nodes,
    async unmount() {
      if (unmounted) return;
      unmounted = true;
      const r = await runProgram('umount', [mnt]);
      if (r.code !== 0) {
        log.warn({ mountpoint: mnt, reason: r.err }, 'unmount refused (busy?): detaching it lazily');
        await runProgram('umount', ['-l', mnt]);
      }
      // A lazily detached mount still in use keeps its connection: abort it, so that no request
      // is left waiting on a daemon that is about to exit and the readers end.
      if (!(await within(session.closed, LIMITS.FUSE_CLOSE_WAIT_MS)) && dev) {
        log.warn({ mountpoint: mnt }, 'connection still open after unmount: aborting it');
        await abortConnection(dev);
      }
      dog.stdin!.end();
      // Closed only once no reader is blocked on it (a reused descriptor number must never get FUSE replies).
      if (await within(session.closed, LIMITS.FUSE_CLOSE_WAIT_MS)) closeSync(fd);
    },
  };
}
