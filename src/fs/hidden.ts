/**
 * A hidden tree at the root of the namespace (/.control, /.snapshots): it answers for every
 * path under its name and for the handles it hands out (each tree has its own handle range).
 * Nothing under a hidden tree can be created, removed, renamed or have its attributes changed.
 */
import type { Stat } from './filesystem.js';

export interface HiddenTree {
  readonly name: string;
  /** Handles this tree hands out are in [fhBase, fhBase + HIDDEN_FH_SPAN). */
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

export const HIDDEN_FH_SPAN = 1 << 28;

/** The hidden tree a path is in, if any. */
export function hiddenFor(trees: HiddenTree[], path: string): HiddenTree | undefined {
  const first = path.split('/').find((p) => p.length > 0);
  return first === undefined ? undefined : trees.find((t) => t.name === first);
}

export function hiddenForFh(trees: HiddenTree[], fh: number): HiddenTree | undefined {
  return trees.find((t) => fh >= t.fhBase && fh < t.fhBase + HIDDEN_FH_SPAN);
}

/** Stat fields shared by hidden entries. */
export function hiddenStat(ino: number, mode: number, size: number, time: number, nlink = 1): Stat {
  return { ino, mode, nlink, uid: 0, gid: 0, size, blocks: Math.ceil(size / 512), blksize: 4096, atime: time, mtime: time, ctime: time };
}
