/**
 * A hidden tree at the root of the namespace (/.control, /.snapshots): it answers for every
 * path under its name and for the handles it hands out (each tree has its own handle range).
 * Nothing under a hidden tree can be created, removed, renamed or have its attributes changed.
 */
import { LIMITS } from '../limits.js';
import type { Stat } from './filesystem.js';

export interface HiddenTree {
  readonly name: string;
  /** Handles this tree hands out are in [fhBase, fhBase + LIMITS.FH_SPAN). */
  readonly fhBase: number;
  stat(path: string): Promise<Stat>;
  readdir(path: string): Promise<{ names: string[]; stats: Stat[] }>;
  open(path: string, writable: boolean): Promise<number>;
  read(fh: number, off: number, len: number): Promise<Buffer>;
  write(fh: number, off: number, data: Buffer): Promise<void>;
  release(fh: number): void;
  /** Truncating a path of the tree (refused unless the tree allows it). */
  truncate(path: string): void;
}

export const CONTROL_DIR = '.control';
export const SNAPSHOTS_DIR = '.snapshots';

/** The hidden tree's name a path starts with (it is reserved at the root), if any. */
export function hiddenName(path: string): string | undefined {
  if (!path.startsWith('/.') && !path.startsWith('.')) return undefined; // every other path: one check
  const first = path.split('/').find((p) => p.length > 0);
  return first === CONTROL_DIR || first === SNAPSHOTS_DIR ? first : undefined;
}

/** The hidden tree a path is in, if any. */
export function hiddenFor(trees: HiddenTree[], path: string): HiddenTree | undefined {
  const name = hiddenName(path);
  return name === undefined ? undefined : trees.find((t) => t.name === name);
}

/** The hidden tree that handed out fh, if any (regular handles are below the first hidden range). */
export function hiddenForFh(trees: HiddenTree[], fh: number): HiddenTree | undefined {
  if (fh < LIMITS.FH_SPAN) return undefined;
  return trees.find((t) => fh >= t.fhBase && fh < t.fhBase + LIMITS.FH_SPAN);
}

/** Stat fields shared by hidden entries. */
export function hiddenStat(ino: number, mode: number, size: number, time: number, nlink = 1): Stat {
  return { ino, mode, nlink, uid: 0, gid: 0, size, blocks: Math.ceil(size / 512), blksize: 4096, atime: time, mtime: time, ctime: time };
}
