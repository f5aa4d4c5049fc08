/**
 * Mounting with fuse-native. fuse-native's option list cannot ask libfuse for big_writes or
 * max_write, so without help every buffered write arrives as 4 KiB. VdfsFuse overrides the one
 * method that builds the -o string and appends them (see native-notes/big-writes.md).
 */
import Fuse from 'fuse-native';
import type { Filesystem } from '../fs/filesystem.js';
import { LIMITS } from '../limits.js';
import { makeOps } from './adapter.js';

const EXTRA_OPTIONS = ['big_writes', `max_write=${LIMITS.FUSE_MAX_WRITE}`];

class VdfsFuse extends Fuse {
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    return base ? `${base},${EXTRA_OPTIONS.join(',')}` : `-o${EXTRA_OPTIONS.join(',')}`;
  }
}

export interface Mounted { unmount(): Promise<void> }

export async function mountFs(fs: Filesystem, mountpoint: string, log: Parameters<typeof makeOps>[1]): Promise<Mounted> {
  await fs.refreshCapacity();
  const fuse = new VdfsFuse(mountpoint, makeOps(fs, log), {
    force: true, autoUnmount: true, defaultPermissions: true, fsname: 'vdfs', subtype: 'vdfs', timeout: false,
  });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  return {
    unmount: () => new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve()))),
  };
}
