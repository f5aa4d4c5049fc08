/** `vdfs mount` (foreground or detached) and `vdfs umount`. */
import { watchLoopDelay } from '../fs/loop-delay.js';
import { fork } from 'node:child_process';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Filesystem, FsOptions } from '../fs/filesystem.js';
import { mountFs, type Binding } from '../fuse/mount.js';
import { VdfsError } from '../errors.js';
import { openDatastore, openOptions, StoreOptions, takeLock } from './store.js';
import { Datastore } from '../txn/datastore.js';
import type { Logger } from './log.js';

const RUN_DIR = process.env.VDFS_RUN_DIR ?? '/run/vdfs';
const pidFile = (mnt: string) => join(RUN_DIR, encodeURIComponent(resolve(mnt)) + '.pid');
const UMOUNT_WAIT_MS = 120_000;

/** What `vdfs mount` takes beyond the filesystem's own options: which FUSE binding serves it. */
export type MountOptions = FsOptions & { fuse?: Binding };

/** The mountpoint a daemon with this pid serves, from the pid files it writes. */
export async function mountpointOfPid(pid: number): Promise<string | null> {
  for (const f of await readdir(RUN_DIR).catch(() => [] as string[])) {
    if (!f.endsWith('.pid')) continue;
    const owner = Number((await readFile(join(RUN_DIR, f), 'utf8').catch(() => '')).trim());
    if (owner === pid) return decodeURIComponent(f.slice(0, -4));
  }
  return null;
}

export async function isMountpoint(mnt: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  const want = resolve(mnt);
  return mounts.split('\n').some((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') === want);
}

async function checkMountpoint(mnt: string): Promise<void> {
  const st = await stat(mnt).catch(() => null);
  if (!st) await mkdir(mnt, { recursive: true });
  else if (!st.isDirectory()) throw new VdfsError('NOT_DIR', `mountpoint ${mnt} is not a directory`);
  if (await isMountpoint(mnt)) throw new VdfsError('BUSY', `mountpoint ${mnt} is busy: something is mounted there`);
}

export async function mountForeground(dir: string, mnt: string, log: Logger, opts: MountOptions = {}, store: StoreOptions = {}): Promise<void> {
  const { key } = await openOptions(store); // a bad key file is refused before anything is touched
  await checkMountpoint(mnt);
  const unlock = await takeLock(dir);
  let ds: Datastore;
  try { ds = await openDatastore(dir, { ...store, key }); } catch (e) { await unlock(); throw e; }
  const fs = new Filesystem(ds, (e) => log.error({ err: e }, 'commit failed; datastore is read-only until remounted'), { ...opts, log, mountpoint: resolve(mnt) });
  try { await fs.recover(); } catch (e) { await ds.close(); await unlock(); throw e; }
  fs.txg.start();
  watchLoopDelay();
  let mounted;
  try {
    mounted = await mountFs(fs, mnt, log, opts.fuse);
  } catch (e) {
    await ds.close(); await unlock();
    throw new VdfsError('BUSY', `cannot mount at ${mnt}: ${(e as Error).message}`);
  }
  await mkdir(RUN_DIR, { recursive: true });
  await writeFile(pidFile(mnt), `${process.pid}\n`);
  log.info({ dir, mountpoint: mnt, txg: Number(ds.txg), pid: process.pid, ...opts, fuse: mounted.binding }, 'mounted');
  process.send?.('ready');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'unmounting');
    try { await mounted.unmount(); } catch (e) { log.warn({ err: e }, 'unmount failed'); }
    try { await fs.close(); } catch (e) { log.error({ err: e }, 'final commit failed'); }
    await ds.close();
    await rm(pidFile(mnt), { force: true });
    await unlock();
    log.info({ txg: Number(ds.txg) }, 'unmounted');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Starts the daemon as a detached child and returns once it has mounted (or failed). */
export async function mountDetached(script: string, dir: string, mnt: string, opts: MountOptions = {}, store: StoreOptions = {}): Promise<void> {
  await openOptions(store); // refuse a bad key file here, with its reason, not in the log
  const logFile = join(resolve(dir), 'vdfs.log');
  const out = await open(logFile, 'a');
  const args = ['mount', dir, mnt, ...(opts.commitPerWrite ? ['--commit-per-write'] : []), ...(opts.oplog === false ? ['--no-oplog'] : []), ...(opts.fuse ? ['--fuse', opts.fuse] : []),
    ...(store.keyFile ? ['--key-file', resolve(store.keyFile)] : []), ...(store.workers !== undefined ? ['--codec-workers', String(store.workers)] : [])];
  const child = fork(script, args, { detached: true, stdio: ['ignore', out.fd, out.fd, 'ipc'] });
  await new Promise<void>((res, rej) => {
    // 'ready', or { error } from a child that failed (main.ts) before it exits.
    child.once('message', (m: unknown) => (m === 'ready' ? res() : rej(new VdfsError('IO', `daemon did not mount: ${(m as { error?: string }).error ?? String(m)}`))));
    child.once('exit', async (code) => {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-1)[0] ?? '';
      rej(new VdfsError('IO', `daemon exited (${code}) before mounting: ${tail}`));
    });
  });
  child.disconnect();
  child.unref();
  await out.close();
}

export async function umount(mnt: string): Promise<void> {
  const pid = Number((await readFile(pidFile(mnt), 'utf8').catch(() => '')).trim());
  if (pid > 0) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* gone already */ }
    const deadline = Date.now() + UMOUNT_WAIT_MS;
    while (Date.now() < deadline) {
      try { process.kill(pid, 0); } catch { return; }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new VdfsError('BUSY', `daemon ${pid} did not stop within ${UMOUNT_WAIT_MS / 1000} s`);
  }
  if (!(await isMountpoint(mnt))) throw new VdfsError('INVALID', `${mnt} is not mounted`);
  await promisify(execFile)('fusermount', ['-uz', resolve(mnt)]);
}
