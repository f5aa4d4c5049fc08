/**
 * Opening a datastore directory from the CLI: the datastore file, its lock (one process at a
 * time), mkfs.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SingleLayout, type Layout } from '../backing/layout.js';
import { DATASTORE_FILE, exists, fileSource } from '../backing/target.js';
import { parseSpread, readLabel, SpreadLayout } from '../backing/spread.js';
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

/** The layout a datastore directory (or any target of a spread layout) holds. */
export async function openLayout(dir: string): Promise<Layout> {
  await initChecksum();
  const d = resolve(dir);
  const target = await fileSource.open(d, false);
  if (await readLabel(target)) {
    await target.close();
    return SpreadLayout.open(d, fileSource);
  }
  try {
    const sb = await readSuperblock(new SingleLayout(target, 1));
    return new SingleLayout(target, sb.segmentSize, d);
  } catch (e) {
    await target.close();
    throw e;
  }
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
  return { key: o.key ?? (o.keyFile ? await readKeyFile(o.keyFile) : null), workers: o.workers, keying: o.keying };
}

export async function openDatastore(dir: string, o: StoreOptions = {}): Promise<Datastore> {
  const opts = await openOptions(o);
  const layout = await openLayout(dir);
  try {
    return await Datastore.open(layout, opts);
  } catch (e) {
    await layout.close();
    throw e;
  }
}

/** True when a target path already holds something: a datastore file in a directory, or non-zero first bytes of a file or device. */
async function holdsDatastore(p: string): Promise<boolean> {
  const st = await stat(p).catch(() => null);
  if (!st) return false;
  if (st.isDirectory()) return exists(join(p, DATASTORE_FILE));
  const t = await fileSource.open(p, false);
  try { return !(await t.read(0, 8)).equals(Buffer.alloc(8)); } finally { await t.close(); }
}

/** Where a datastore's pieces go: the layout (`single`, `mirror:N`, `ec:K+M`) and its targets (SpreadLayout.mkfs checks they fit). */
export interface Placement { layout: string; targets: string[]; maxSegments?: number }

/** Makes a datastore on `place.targets` (the first is where it is named: its directory holds the lock). */
export async function mkfsDatastore(force: boolean, opts: MkfsOptions, place: Placement): Promise<Datastore> {
  if (opts.policy?.encrypt && !opts.key) throw new VdfsError('KEY', '--encrypt needs --key-file (make one with: vdfs keygen FILE)');
  await initChecksum();
  const spec = place.layout === 'single' ? null : parseSpread(place.layout);
  if (place.layout !== 'single' && !spec) throw new VdfsError('INVALID', `--layout ${place.layout}: one of single, mirror:N, ec:K+M`);
  const paths = place.targets.map((t) => resolve(t));
  if (!spec && paths.length !== 1) throw new VdfsError('INVALID', 'the single layout has one target; give --layout mirror:N or ec:K+M for more');
  if (new Set(paths).size !== paths.length) throw new VdfsError('INVALID', 'a target is named twice');
  for (const p of paths) {
    if (!(await holdsDatastore(p))) continue;
    if (!force) throw new VdfsError('EXISTS', `${p} already holds a datastore (use --force to replace it)`);
    const holder = await lockHolder(p);
    if (holder !== null) throw new VdfsError('BUSY', `datastore ${p} is in use by process ${holder}`);
  }
  const segmentSize = opts.segmentSize ?? LIMITS.SEGMENT_SIZE;
  const layout: Layout = spec
    ? await SpreadLayout.mkfs(spec, paths, fileSource, segmentSize, place.maxSegments)
    : new SingleLayout(await fileSource.open(paths[0], true), segmentSize, paths[0]);
  return Datastore.mkfs(layout, opts);
}
