/**
 * The hidden /.control tree: `status` (read-only JSON of the datastore's figures). Its handles
 * live in their own range; its content is rendered when it is opened, and reads end where the
 * content ends (the reported size is an upper bound, STATUS_FILE_BYTES).
 */
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import { S_IFDIR, S_IFREG } from '../meta/inode.js';
import type { Filesystem, Stat } from './filesystem.js';

export const CONTROL_DIR = '.control';
const RESERVED = new Set([CONTROL_DIR, '.snapshots']);
const FH_BASE = 1 << 30;
const CONTROL_INO = 2, STATUS_INO = 3;

export class ControlTree {
  private open_ = new Map<number, Buffer>();
  private nextFh = FH_BASE;
  private readonly started = Date.now();
  constructor(private fs: Filesystem) {}

  reserved(name: string): boolean { return RESERVED.has(name); }

  private kind(path: string): 'dir' | 'status' | 'missing' | null {
    if (path === '/' + CONTROL_DIR) return 'dir';
    if (!path.startsWith('/' + CONTROL_DIR + '/')) return null;
    return path === `/${CONTROL_DIR}/status` ? 'status' : 'missing';
  }

  stat(path: string): Stat | null {
    const k = this.kind(path);
    if (k === null) return null;
    if (k === 'missing') fail('NOT_FOUND', `${path}: no such control file`);
    const t = this.started;
    const base = { uid: 0, gid: 0, blksize: 4096, blocks: 0, atime: t, mtime: Date.now(), ctime: t };
    return k === 'dir'
      ? { ...base, ino: CONTROL_INO, mode: S_IFDIR | 0o555, nlink: 2, size: 0 }
      : { ...base, ino: STATUS_INO, mode: S_IFREG | 0o444, nlink: 1, size: LIMITS.STATUS_FILE_BYTES };
  }

  readdir(path: string): { names: string[]; stats: Stat[] } | null {
    const k = this.kind(path);
    if (k === null) return null;
    if (k !== 'dir') fail('NOT_DIR', `${path} is not a directory`);
    return { names: ['status'], stats: [this.stat(`/${CONTROL_DIR}/status`)!] };
  }

  refuseWrite(path: string): void {
    if (this.kind(path) !== null) fail('READ_ONLY', `${path} is read-only`);
  }

  open(path: string, writable: boolean): number | null {
    const k = this.kind(path);
    if (k === null) return null;
    if (k === 'missing') fail('NOT_FOUND', `${path}: no such control file`);
    if (k === 'dir') fail('IS_DIR', `${path} is a directory`);
    if (writable) fail('READ_ONLY', `${path} is read-only`);
    const fh = this.nextFh++;
    this.open_.set(fh, Buffer.from(JSON.stringify(this.status(), null, 2) + '\n'));
    return fh;
  }

  read(fh: number, off: number, len: number): Buffer | null {
    const b = this.open_.get(fh);
    if (!b) return null;
    return b.subarray(Math.min(off, b.length), Math.min(off + len, b.length));
  }

  release(fh: number): boolean { return this.open_.delete(fh); }

  /** The write path's figures: requests → elements → sets → logical → physical transactions. */
  private writePath(): Record<string, unknown> {
    const w = this.fs.writes.stats, t = this.fs.txg.stats;
    const lat = this.fs.txg.latency();
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      mode: this.fs.opts.commitPerWrite ? 'commit-per-write' : 'batched',
      writeRequests: this.fs.counters.writes, sgArrays: w.arrays, sgElements: w.elements, sgSets: w.sets,
      logicalTransactions: w.logicalTxns, transactionDependent: w.dependent,
      resolutions: { overwrite: w.overwrite, merge: w.merge, zeroFill: w.zeroFill, oldBlock: w.oldBlock, reresolved: w.reresolved },
      physicalTransactions: t.commits, physicalWithWrites: t.commitsWithWrites,
      meanLogicalPerPhysical: t.commitsWithWrites ? round(t.logicalTxns / t.commitsWithWrites) : 0,
      commitLatencyMs: { p50: round(lat.p50), p99: round(lat.p99) },
      syncs: this.fs.ds.commits /* one sync per commit (txn/commit.ts) */, syncRequests: t.syncRequests, backPressureWaits: t.backPressureWaits,
    };
  }

  status(): Record<string, unknown> {
    const fs = this.fs, ds = fs.ds;
    const sf = fs.statfs();
    return {
      health: fs.txg.failure ? 'FAILED' : 'ONLINE',
      error: fs.txg.failure ? String(fs.txg.failure) : undefined,
      txg: Number(ds.txg),
      lastCommit: ds.lastCommit && { txg: Number(ds.lastCommit.txg), time: new Date(ds.lastCommit.time).toISOString(), bytes: ds.lastCommit.bytes, ms: Math.round(ds.lastCommit.ms * 10) / 10 },
      space: {
        capacityBytes: sf.blocks * sf.bsize, usedBytes: ds.space.usedBytes(), freeBytes: sf.bfree * sf.bsize,
        segments: ds.space.segCount, freeSegments: ds.space.freeSegments(), segmentSize: ds.sb.segmentSize, blockSize: ds.blockSize,
      },
      dirtyBytes: fs.dirtyBytes(),
      writePath: this.writePath(),
      io: fs.counters,
      layout: ds.layout.name,
    };
  }
}
