/**
 * The namespace a user sees: paths, directories, files (vdisks), symlinks, attributes, open
 * handles, and the hidden /.control tree. Namespace changes are serialized by one lock and
 * publish a new directory-tree root each; the freeze for a commit takes the same lock.
 */
import { CowTree, Node } from '../meta/btree.js';
import {
  decodeDirent, decodeInode, direntKey, InodeAttrs, S_IFMT,
} from '../meta/inode.js';
import type { Datastore } from '../txn/datastore.js';
import { mapTreeId, ROOT_INO } from '../txn/datastore.js';
import { Frozen, FrozenFile, Touch, touchAll } from '../txn/commit.js';
import { frozenFile } from './frozen.js';
import { Mutex } from '../txn/mutex.js';
import { TxgManager, TxgSource } from '../txn/txg.js';
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import { emptyDirty, Vnode } from './vnode.js';
import type { DirtyCounter } from './data.js';
import { Journal } from './journal.js';
import { replayOplog } from './replay.js';
import { OPLOG_VERSION } from '../format/superblock.js';
import { HandleTable } from './handles.js';
import { WritePath } from '../txn/write-path.js';
import { ControlTree } from './control.js';
import { HiddenTree, hiddenFor, hiddenForFh, hiddenName } from './hidden.js';
import { SnapView } from './snapview.js';
import type { Alarm } from '../verify/verify.js';
import { checkName, splitPath } from './names.js';
import { Snapshots } from './snapshots.js';
import { Cleaner } from './cleaner.js';
import { Namespace } from './namespace.js';
import { FileIo } from './file-io.js';

export interface Stat {
  ino: number; mode: number; nlink: number; uid: number; gid: number; size: number;
  blocks: number; blksize: number; atime: number; mtime: number; ctime: number;
}

export interface Caller { uid: number; gid: number }

export interface FsLog { info(o: object, msg: string): void; warn(o: object, msg: string): void; error(o: object, msg: string): void }
const quiet: FsLog = { info() {}, warn() {}, error() {} };

export interface FsOptions {
  /** Commit every write on its own (one physical transaction per write): only to measure batching. */
  commitPerWrite?: boolean;
  /** false: fsync always commits the txg (the oplog is not used). */
  oplog?: boolean;
  log?: FsLog;
  /** Where this filesystem is mounted (files under it are never read by the daemon itself). */
  mountpoint?: string;
}

/** A long operation under way (restore), as status shows it. */
export interface Operation { id: number; op: string; file: string; done: number; total: number; started: string }

export class Filesystem implements TxgSource {
  readonly txg: TxgManager;
  readonly control: ControlTree;
  readonly snapshots: Snapshots;
  readonly cleaner = new Cleaner(this);
  private direntTouches: Touch[] = [];
  readonly hidden: HiddenTree[];
  readonly log: FsLog;
  readonly alarms = { count: 0, recent: [] as (Alarm & { time: string })[] };
  readonly operations = new Map<number, Operation>();
  private nextOperation = 1;
  /** @internal (fs/namespace.ts) */
  vnodes = new Map<bigint, Vnode>();
  private ns = new Mutex();
  readonly handles = new HandleTable();
  readonly writes: WritePath;
  /** fsyncs of small writes go to the oplog (fs/journal.ts). */
  readonly journal: Journal;
  /** The open txg's dirty bytes in memory, through dirtyCounter (fs/log-bytes.ts). */
  private openBytes = 0;
  private syncingBytes = 0;
  /** The open txg's estimated log bytes, through dirtyCounter (fs/log-bytes.ts). */
  private openLogBytes = 0;
  /** @internal (fs/namespace.ts) */
  direntFreedSince: Node[] = [];
  /** @internal (fs/namespace.ts) */
  nsDirty = false;
  readonly counters = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, fallocates: 0, bytesZeroed: 0 };

  constructor(readonly ds: Datastore, onCommitError: (e: unknown) => void = () => {}, readonly opts: FsOptions = {}) {
    this.txg = new TxgManager(ds, this, onCommitError);
    this.writes = new WritePath(ds.blockSize);
    this.journal = new Journal(ds, this.txg, opts.oplog !== false && ds.sb.version >= OPLOG_VERSION);
    this.writes.onApplied = (ino, array) => this.journal.wrote(ino, array, Date.now());
    this.control = new ControlTree(this);
    this.snapshots = new Snapshots(this);
    this.hidden = [this.control, new SnapView(this)];
    this.log = opts.log ?? quiet;
  }

  // ---- lookup -------------------------------------------------------------------------

  async vnode(ino: bigint): Promise<Vnode> {
    let v = this.vnodes.get(ino);
    if (v) return v;
    const raw = await this.ds.readInode(ino);
    if (!raw) fail('NOT_FOUND', `inode ${ino} not found`);
    v = this.vnodes.get(ino); // another caller may have loaded it meanwhile
    if (v) return v;
    const attrs = decodeInode(raw!);
    v = new Vnode(ino, attrs, this.mapTree(ino, attrs));
    this.vnodes.set(ino, v);
    return v;
  }

  /** @internal (fs/namespace.ts) */
  mapTree(ino: bigint, attrs: InodeAttrs): CowTree {
    return new CowTree(mapTreeId(ino), this.ds.loader, attrs.mapRoot);
  }

  /** Drops clean vnodes past INODE_CACHE; runs after commits, never while a namespace op is under way. */
  private evict(): void {
    if (this.vnodes.size <= LIMITS.INODE_CACHE || this.ns.locked) return;
    for (const [ino, v] of this.vnodes) {
      if (this.vnodes.size <= LIMITS.INODE_CACHE / 2) break;
      if (v.clean && ino !== ROOT_INO) { this.vnodes.delete(ino); this.ds.catalog.forget(ino); }
    }
  }

  /** @internal (fs/namespace.ts) */
  async child(dir: Vnode, name: string): Promise<bigint | null> {
    if (!dir.isDir) fail('NOT_DIR', 'not a directory');
    const v = await this.ds.dirents.get(direntKey(dir.ino, name));
    return v ? decodeDirent(v) : null;
  }

  /** The entries of a directory (published state), in name order. */
  async *entries(dir: Vnode): AsyncGenerator<{ name: string; ino: bigint }> {
    for await (const [k, val] of this.ds.dirents.scan(direntKey(dir.ino, ''), direntKey(dir.ino + 1n, ''))) {
      yield { name: k.subarray(8).toString(), ino: decodeDirent(val) };
    }
  }

  /** Resolves an absolute path to its vnode (no symlink following: the kernel does that). */
  async resolve(path: string): Promise<Vnode> {
    let v = await this.vnode(ROOT_INO);
    for (const name of splitPath(path)) {
      const ino = await this.child(v, name);
      if (ino === null) fail('NOT_FOUND', `${path}: no such file or directory`);
      v = await this.vnode(ino!);
    }
    return v;
  }

  /** @internal (fs/namespace.ts) */
  async parentOf(path: string): Promise<{ dir: Vnode; name: string }> {
    this.refuseHidden(path);
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) fail('EXISTS', 'the root exists');
    checkName(name!);
    const dir = await this.resolve('/' + parts.join('/'));
    if (!dir.isDir) fail('NOT_DIR', `${path}: a parent is not a directory`);
    return { dir, name: name! };
  }

  // ---- attributes ---------------------------------------------------------------------

  stat(v: Vnode): Stat {
    const a = v.attrs;
    const dirtyBlocks = v.open.blocks.size + (v.syncing?.blocks.size ?? 0);
    return {
      ino: Number(v.ino), mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, size: a.size,
      blocks: Math.ceil((a.stored + dirtyBlocks * this.ds.blockSize) / 512), blksize: this.ds.blockSize,
      atime: a.atime, mtime: a.mtime, ctime: a.ctime,
    };
  }

  async getattr(path: string): Promise<Stat> {
    const h = hiddenFor(this.hidden, path);
    if (h) return h.stat(path);
    return this.stat(await this.resolve(path));
  }

  async setattr(path: string, change: (a: InodeAttrs) => void): Promise<void> {
    this.refuseHidden(path);
    await this.change(async () => {
      const v = await this.resolve(path);
      change(v.attrs);
      v.changed();
    });
  }

  chmod = (path: string, mode: number) => this.setattr(path, (a) => { a.mode = (a.mode & S_IFMT) | (mode & 0o7777); });
  chown = (path: string, uid: number, gid: number) => this.setattr(path, (a) => {
    if (uid !== -1 && uid !== 0xffffffff) a.uid = uid;
    if (gid !== -1 && gid !== 0xffffffff) a.gid = gid;
  });
  utimens = (path: string, atime: number, mtime: number) => this.setattr(path, (a) => { a.atime = atime; a.mtime = mtime; });

  // ---- namespace ----------------------------------------------------------------------

  /** Runs a change under the namespace lock; refused once a commit has failed. */
  change<T>(fn: () => Promise<T>): Promise<T> {
    this.refuseIfFailed();
    return this.ns.run(() => { this.journal.gap(); return fn(); });
  }

  /** After a failed commit nothing more can become durable: changes get READ_ONLY (EROFS). */
  refuseIfFailed(): void {
    if (this.txg.failure) fail('READ_ONLY', 'a commit failed; the datastore is read-only until remounted');
  }

  /** @internal (fs/namespace.ts) */
  refuseHidden(path: string): void {
    if (hiddenName(path)) fail('READ_ONLY', `${path} is inside a read-only hidden tree`);
  }

  /** Records an alarm: kept for status (the newest ALARMS_KEPT) and logged at error level. */
  raiseAlarm(a: Alarm): void {
    this.alarms.count++;
    this.alarms.recent.push({ ...a, time: new Date().toISOString() });
    if (this.alarms.recent.length > LIMITS.ALARMS_KEPT) this.alarms.recent.shift();
    this.log.error({ alarm: a }, 'verification alarm');
  }

  /** Runs a long operation that status shows with its progress while it runs. */
  async operation<T>(op: string, file: string, fn: (progress: (done: number, total: number) => void) => Promise<T>): Promise<T> {
    const id = this.nextOperation++;
    const o: Operation = { id, op, file, done: 0, total: 0, started: new Date().toISOString() };
    this.operations.set(id, o);
    try { return await fn((done, total) => { o.done = done; o.total = total; }); } finally { this.operations.delete(id); }
  }

  // ---- namespace changes: fs/namespace.ts ---------------------------------------------

  readonly names = new Namespace(this);
  create: Namespace['create'] = (...a) => this.names.create(...a);
  mkdir: Namespace['mkdir'] = (...a) => this.names.mkdir(...a);
  symlink: Namespace['symlink'] = (...a) => this.names.symlink(...a);
  readlink: Namespace['readlink'] = (...a) => this.names.readlink(...a);
  hardlink: Namespace['hardlink'] = (...a) => this.names.hardlink(...a);
  unlink: Namespace['unlink'] = (...a) => this.names.unlink(...a);
  rmdir: Namespace['rmdir'] = (...a) => this.names.rmdir(...a);
  rename: Namespace['rename'] = (...a) => this.names.rename(...a);

  async readdir(path: string): Promise<{ names: string[]; stats: Stat[] }> {
    const h = hiddenFor(this.hidden, path);
    if (h) return h.readdir(path);
    const dir = await this.resolve(path);
    if (!dir.isDir) fail('NOT_DIR', `${path} is not a directory`);
    const names: string[] = [], stats: Stat[] = [];
    for await (const e of this.entries(dir)) {
      names.push(e.name);
      stats.push(this.stat(await this.vnode(e.ino)));
    }
    if (dir.ino === ROOT_INO) for (const t of this.hidden) { names.push(t.name); stats.push(await t.stat('/' + t.name)); }
    return { names, stats };
  }

  // ---- handles and data ---------------------------------------------------------------

  /** Opens a file; `sync` makes every write through the handle durable before it returns. */
  async open(path: string, writable: boolean, sync = false): Promise<number> {
    const h = hiddenFor(this.hidden, path);
    if (h) return h.open(path, writable);
    const v = await this.resolve(path);
    if (v.isDir) fail('IS_DIR', `${path} is a directory`);
    return this.handles.add(v, sync);
  }

  addHandle(v: Vnode, sync = false): number { return this.handles.add(v, sync); }

  release(fh: number): void {
    const h = hiddenForFh(this.hidden, fh);
    if (h) h.release(fh); else this.handles.release(fh);
  }

  /** Whether fh is a /.control handle (its writes are commands that may run long). */
  isControlHandle(fh: number): boolean { return hiddenForFh(this.hidden, fh) === this.control; }

  readonly io = new FileIo(this);
  read: FileIo['read'] = (...a) => this.io.read(...a);
  readv: FileIo['readv'] = (...a) => this.io.readv(...a);
  replied: FileIo['replied'] = (...a) => this.io.replied(...a);
  write: FileIo['write'] = (...a) => this.io.write(...a);
  txnOf: FileIo['txnOf'] = (...a) => this.io.txnOf(...a);
  truncate: FileIo['truncate'] = (...a) => this.io.truncate(...a);
  fallocate: FileIo['fallocate'] = (...a) => this.io.fallocate(...a);
  seek: FileIo['seek'] = (...a) => this.io.seek(...a);

  async fsync(): Promise<void> { await this.journal.sync(); }

  readonly dirtyCounter: DirtyCounter = {
    add: (n: number) => { this.openBytes += n; },
    log: (n: number) => { this.openLogBytes += n; },
    sized: (v: Vnode, size: number) => this.journal.sized(v.ino, size, v.attrs.mtime),
  };

  /** Replays what the oplog holds past the newest commit (fs/replay.ts); once, before anything else changes the filesystem. */
  recover(): Promise<void> { return replayOplog(this); }

  // ---- transaction groups -------------------------------------------------------------

  hasChanges(): boolean {
    if (this.nsDirty || this.snapshots.hasPending()) return true;
    for (const v of this.vnodes.values()) if (v.dirty) return true;
    return false;
  }

  dirtyBytes(): number { return this.openBytes; }

  logBytes(): number { return this.openLogBytes; }

  logLimit(): number { return this.cleaner.logLimit(); }

  /** Captures the open transaction group; then the cleaner adds what it relocates into it. */
  async freeze(): Promise<Frozen> {
    const f = await this.ns.run(async () => {
      await this.touchDirents();
      const files: FrozenFile[] = [];
      for (const v of this.vnodes.values()) {
        if (!v.dirty) continue;
        const set = v.open;
        v.syncing = set;
        v.open = emptyDirty();
        v.dirty = false;
        files.push(frozenFile(this, v, set, { ...v.attrs }));
      }
      this.syncingBytes = this.openBytes;
      this.openBytes = 0;
      this.openLogBytes = 0;
      const frozen: Frozen = {
        files, rawInodes: [], direntRoot: this.ds.dirents.root, direntFreed: this.direntFreedSince,
        snapOps: this.snapshots.take(), logical: this.writes.takeOpenLogical(), touches: new Map(),
        oplog: this.journal.head(),
      };
      this.direntFreedSince = [];
      this.nsDirty = false;
      return frozen;
    });
    await this.cleaner.run(f);
    return f;
  }

  /**
   * A file the cleaner moves records of, in a commit it is not part of: it joins with its
   * committed attributes (changes made since stay for the next commit). Null when it cannot.
   */
  async lateFreeze(f: Frozen, ino: bigint): Promise<FrozenFile | null> {
    const v = await this.vnode(ino).catch(() => null);
    const raw = await this.ds.readInode(ino);
    if (!v || !raw || v.syncing) return null; // v.syncing: frozen already, in f
    const set = emptyDirty();
    v.syncing = set;
    const ff = frozenFile(this, v, set, decodeInode(raw));
    f.files.push(ff);
    return ff;
  }

  /** Directory-tree nodes the cleaner moves are copied at the next freeze (the namespace owns that tree). */
  deferDirentTouches(t: Touch[]): void { this.direntTouches.push(...t); }

  private async touchDirents(): Promise<void> {
    const touches = this.direntTouches;
    if (!touches.length) return;
    this.direntTouches = [];
    await touchAll(this.ds.dirents, touches);
    this.direntFreedSince.push(...this.ds.dirents.takeFreed());
  }

  committed(f: Frozen): void {
    for (const file of f.files) {
      const v = this.vnodes.get(file.ino);
      if (!v) continue;
      v.syncing = null;
      this.writes.blocks.recycle(file.blocks.values());
      if (file.deleted) this.vnodes.delete(file.ino);
    }
    this.syncingBytes = 0;
    this.journal.committed(f.oplog);
    this.snapshots.committed(f.snapOps);
    this.evict();
  }

  /** Commits what is open and stops the commit timer. */
  async close(): Promise<void> {
    await this.txg.stop();
  }

  statfs(): { bsize: number; blocks: number; bfree: number; files: number; ffree: number; namemax: number } {
    const bsize = 4096;
    const used = this.ds.space.usedBytes() + this.openBytes + this.syncingBytes;
    const total = this.capacity;
    return {
      bsize, blocks: Math.floor(total / bsize), bfree: Math.max(0, Math.floor((total - used) / bsize)),
      files: 1 << 30, ffree: (1 << 30) - this.vnodes.size, namemax: LIMITS.NAME_MAX,
    };
  }

  /** Bytes the datastore may hold: what it holds now plus what its layout could still grow by. */
  capacity = 0;
  async refreshCapacity(): Promise<void> {
    const s = await this.ds.layout.space();
    this.capacity = s.size + s.available;
  }
}
