/**
 * Opening a datastore directory from the CLI: the datastore file, its lock (one process at a
 * time), mkfs.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SingleLayout } from '../backing/layout.js';
import { DATASTORE_FILE, exists, FileTarget } from '../backing/target.js';
import { initChecksum } from '../codec/checksum.js';
import { readSuperblock, Datastore, MkfsOptions, OpenOptions } from '../txn/datastore.js';
import { readKeyFile } from '../codec/seal.js';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';

export const lockPath = (dir: string) => join(dir, 'vdfs.lock');

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** The pid that holds the datastore, if a live process does. */
export async function lockHolder(dir: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(lockPath(dir), 'utf8')).trim());
    return pid > 0 && pidAlive(pid) ? pid : null;
  } catch { return null; }
}

export async function takeLock(dir: string): Promise<() => Promise<void>> {
  const holder = await lockHolder(dir);
  if (holder !== null && holder !== process.pid) throw new VdfsError('BUSY', `datastore ${dir} is in use by process ${holder}`);
  await writeFile(lockPath(dir), `${process.pid}\n`);
  return () => rm(lockPath(dir), { force: true });
}

async function openTarget(dir: string, create: boolean): Promise<FileTarget> {
  await initChecksum();
  const d = resolve(dir);
  const st = await stat(d).catch(() => null);
  if (!st && !create) throw new VdfsError('NO_DATASTORE', `${d} does not exist`);
  if (st && !st.isDirectory()) throw new VdfsError('INVALID', `${d} is not a directory`);
  if (!st) await mkdir(d, { recursive: true });
  return FileTarget.open(join(d, DATASTORE_FILE), create);
}

/**
 * How the CLI opens a datastore: its key file (if any) and codec worker threads. `keying`: the
 * key file is there to set the key of a datastore that has none (the policy command); otherwise
 * a key for a datastore without one is refused — it was never encrypted, or its superblock was
 * replaced by an unkeyed one.
 */
export interface StoreOptions { keyFile?: string; workers?: number; keying?: boolean; /** the key file's key, when already read */ key?: Buffer | null }

/** Open options from CLI options: the key file is read (and checked for size) before anything else. */
export async function openOptions(o: StoreOptions): Promise<OpenOptions> {
  return { key: o.key ?? (o.keyFile ? await readKeyFile(o.keyFile) : null), workers: o.workers };
}

export async function openDatastore(dir: string, o: StoreOptions = {}): Promise<Datastore> {
  const opts = await openOptions(o);
  const target = await openTarget(dir, false);
  try {
    const sb = await readSuperblock(new SingleLayout(target, 1));
    if (opts.key && !sb.keyCheck && !o.keying) {
      throw new VdfsError('KEY', `datastore ${dir} has no key (it is not encrypted); to encrypt it: vdfs policy ${dir} --encrypt --key-file FILE`);
    }
    return await Datastore.open(new SingleLayout(target, sb.segmentSize), opts);
  } catch (e) {
    await target.close();
    throw e;
  }
}

export async function mkfsDatastore(dir: string, force: boolean, opts: MkfsOptions): Promise<Datastore> {
  if (opts.policy?.encrypt && !opts.key) throw new VdfsError('KEY', '--encrypt needs --key-file (make one with: vdfs keygen FILE)');
  const file = join(resolve(dir), DATASTORE_FILE);
  if (await exists(file)) {
    if (!force) throw new VdfsError('EXISTS', `${file} already holds a datastore (use --force to replace it)`);
    const holder = await lockHolder(dir);
    if (holder !== null) throw new VdfsError('BUSY', `datastore ${dir} is in use by process ${holder}`);
  }
  const target = await openTarget(dir, true);
  return Datastore.mkfs(new SingleLayout(target, opts.segmentSize ?? LIMITS.SEGMENT_SIZE), opts);
}
