/**
 * Mounting: with the kernel binding (src/fuse/kernel/: the FUSE protocol spoken over /dev/fuse
 * by this process; needs root) or with fuse-native (libfuse 2). `kernel` is the default for root,
 * `native` otherwise; VDFS_FUSE or `vdfs mount --fuse` choose.
 *
 * fuse-native's option list cannot ask libfuse for big_writes or max_write, so without help every
 * buffered write arrives as 4 KiB. VdfsFuse overrides the one method that builds the -o string
 * and appends them (see native-notes/big-writes.md).
 */
import Fuse from 'fuse-native';
import type { Filesystem } from '../fs/filesystem.js';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { makeOps } from './adapter.js';
import { mountKernel } from './kernel/kmount.js';

export const BINDINGS = ['kernel', 'native'] as const;
export type Binding = (typeof BINDINGS)[number];

const EXTRA_OPTIONS = ['big_writes', `max_write=${LIMITS.FUSE_DEFAULT_MAX_WRITE}`];

class VdfsFuse extends Fuse {
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    return base ? `${base},${EXTRA_OPTIONS.join(',')}` : `-o${EXTRA_OPTIONS.join(',')}`;
  }
}

export interface Mounted { unmount(): Promise<void>; binding: Binding }

/** The binding asked for (VDFS_FUSE), else kernel for root and native for anyone else. */
export function defaultBinding(): Binding {
  const env = process.env.VDFS_FUSE;
  if (env) return checkBinding(env);
  return process.getuid?.() === 0 ? 'kernel' : 'native';
}

export function checkBinding(b: string): Binding {
  if (!(BINDINGS as readonly string[]).includes(b)) throw new VdfsError('INVALID', `FUSE binding ${JSON.stringify(b)}: use ${BINDINGS.join(' or ')}`);
  return b as Binding;
}

export async function mountFs(fs: Filesystem, mountpoint: string, log: Parameters<typeof makeOps>[1], binding: Binding = defaultBinding()): Promise<Mounted> {
  await fs.refreshCapacity();
  if (binding === 'kernel') return { ...(await mountKernel(fs, mountpoint, log)), binding };
  const fuse = new VdfsFuse(mountpoint, makeOps(fs, log), {
    force: true, autoUnmount: true, defaultPermissions: true, fsname: 'vdfs', subtype: 'vdfs', timeout: false,
  });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  return {
    binding,
    unmount: () => new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve()))),
  };
}
