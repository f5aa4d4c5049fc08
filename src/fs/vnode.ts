/** In-memory state of one inode: attributes, its block map, and its dirty data per txg. */
import { CowTree, Node } from '../meta/btree.js';
import type { InodeAttrs } from '../meta/inode.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../meta/inode.js';
import { Mutex } from '../txn/mutex.js';
import { noReadAhead } from './read-ahead.js';
import type { TxnFile } from '../txn/write-path.js';
import type { Partial } from './partial.js';

export interface DirtySet {
  blocks: Map<number, Buffer>;
  /** Blocks of `blocks` written in part, with their written ranges: the rest comes from the stored block (fs/partial.ts). */
  partial: Map<number, Partial>;
  trimFrom: number | null;
  /** Each block's share of the log bytes its commit writes, and their sum (fs/log-bytes.ts). */
  logEst: Map<number, number>;
  logBytes: number;
  /** Once frozen: the file's map root and the datastore's txg at the freeze (what its partly written blocks fill from). */
  below?: { root: Node | null; txg: bigint };
}
export const emptyDirty = (): DirtySet => ({ blocks: new Map(), partial: new Map(), trimFrom: null, logEst: new Map(), logBytes: 0 });

export class Vnode {
  open: DirtySet = emptyDirty();
  syncing: DirtySet | null = null;
  /** Changed since the last freeze (attributes or data). */
  dirty = false;
  deleted = false;
  /** This vnode as the write path sees it (made on the first write, then reused). */
  txn: TxnFile | undefined;
  handles = 0;
  /** Where sequential reads of this file are and how far ahead they fetched. */
  readonly readAhead = noReadAhead();
  /** The map lookups of the last read-ahead (settles once its records are all asked for). */
  prefetching: Promise<void> | null = null;
  readonly lock = new Mutex();
  constructor(readonly ino: bigint, public attrs: InodeAttrs, readonly map: CowTree) {}
  get isDir(): boolean { return (this.attrs.mode & S_IFMT) === S_IFDIR; }
  get isFile(): boolean { return (this.attrs.mode & S_IFMT) === S_IFREG; }
  get isLink(): boolean { return (this.attrs.mode & S_IFMT) === S_IFLNK; }
  /** Evictable: nothing in memory that is not in the committed trees. */
  get clean(): boolean {
    return !this.dirty && !this.syncing && this.handles === 0 && this.open.blocks.size === 0 && !this.lock.locked;
  }
  /** Attributes changed (ctime): the inode goes into the next transaction group. */
  changed(now = Date.now()): void { this.attrs.ctime = now; this.dirty = true; }
  /** Content changed (mtime and ctime). */
  touch(now = Date.now()): void { this.attrs.mtime = now; this.changed(now); }
}
