/**
 * A filesystem's file data through open handles: reads (whole, or as pieces for the kernel
 * binding's reply), writes through the write path, truncation, fallocate and lseek's
 * SEEK_DATA/SEEK_HOLE. Handles of the hidden trees (/.control, /.snapshots) go to their tree.
 */
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import { Mutex } from '../txn/mutex.js';
import type { TxnFile } from '../txn/write-path.js';
import { readData, truncateData, txnFile } from './data.js';
import { fallocate, type FallocateMode, type FallocateResult } from './fallocate.js';
import type { Filesystem } from './filesystem.js';
import { hiddenFor, hiddenForFh } from './hidden.js';
import { seekData, seekWhole } from './lseek.js';
import type { Vnode } from './vnode.js';

export class FileIo {
  /** The measuring switch's one write at a time (FsOptions.commitPerWrite). */
  private perWrite = new Mutex();
  constructor(private fs: Filesystem) {}

  /** Up to len bytes at off (fewer only at end of file), a buffer of the caller's own. */
  async read(fh: number, off: number, len: number): Promise<Buffer> {
    const pieces = await this.readv(fh, off, len);
    const out = Buffer.concat(pieces);
    this.replied(pieces);
    return out;
  }

  /**
   * The same bytes as pieces in order that never change (readData): the kernel binding's reply,
   * written as they are. Their holder gives them back with `replied` once it no longer touches
   * them (some may be slices of reused read buffers: txn/read-loans.ts); pieces never given back
   * are only never reused.
   */
  async readv(fh: number, off: number, len: number): Promise<Buffer[]> {
    const h = hiddenForFh(this.fs.hidden, fh);
    if (h) return [await h.read(fh, off, len)];
    const pieces = await readData(this.fs.ds, this.fs.handles.get(fh).v, off, len);
    this.fs.counters.reads++;
    for (const p of pieces) this.fs.counters.bytesRead += p.length;
    return pieces;
  }

  /** Pieces of readv's that their holder is done with (written out, or copied). */
  replied(pieces: readonly Buffer[]): void {
    this.fs.ds.loans?.returned(pieces);
  }

  /** Buffered writes are durable at the next commit; O_SYNC/O_DSYNC ones when this returns. */
  async write(fh: number, off: number, data: Buffer): Promise<void> {
    const h = hiddenForFh(this.fs.hidden, fh);
    if (h) return h.write(fh, off, data);
    const { v, sync } = this.fs.handles.get(fh);
    if (!v.isFile) fail('INVALID', 'not a regular file');
    if (off + data.length > LIMITS.FILE_MAX_BYTES) fail('TOO_BIG', 'write past the largest file size');
    const file = this.txnOf(v);
    if (this.fs.opts.commitPerWrite) {
      // The measuring switch: each write is applied and committed on its own.
      await this.perWrite.run(async () => { await this.fs.writes.write(file, off, data); await this.fs.txg.sync(); });
    } else {
      await this.fs.txg.admit();
      await this.fs.writes.write(file, off, data);
      if (sync) await this.fs.journal.sync();
    }
    this.fs.counters.writes++;
    this.fs.counters.bytesWritten += data.length;
  }

  /** The write path's view of a file (made once per vnode); refused after a failed commit. */
  txnOf(v: Vnode): TxnFile {
    this.fs.refuseIfFailed();
    return (v.txn ??= txnFile(this.fs.ds, v, this.fs.dirtyCounter));
  }

  async truncate(path: string | null, fh: number | null, size: number): Promise<void> {
    const h = path === null ? undefined : hiddenFor(this.fs.hidden, path);
    if (h) return h.truncate(path!);
    const v = fh !== null && this.fs.handles.has(fh) ? this.fs.handles.get(fh).v : await this.fs.resolve(path ?? '/');
    if (v.isDir) fail('IS_DIR', 'is a directory');
    if (!v.isFile) fail('INVALID', 'not a regular file');
    this.fs.refuseIfFailed();
    await v.lock.run(() => truncateData(this.fs.ds, v, size, this.fs.dirtyCounter));
  }

  /** fallocate(2) through an open handle (fs/fallocate.ts: vdfs reserves nothing; zeroing is a write of zeros). */
  async fallocate(fh: number, off: number, len: number, mode: FallocateMode): Promise<FallocateResult> {
    if (hiddenForFh(this.fs.hidden, fh)) fail('NOT_SUPPORTED', 'fallocate of a hidden file');
    const { v } = this.fs.handles.get(fh);
    if (!v.isFile) fail('INVALID', 'not a regular file');
    if (off < 0 || len <= 0) fail('INVALID', 'fallocate wants off >= 0 and len > 0');
    if (off + len > LIMITS.FILE_MAX_BYTES) fail('TOO_BIG', 'fallocate past the largest file size');
    const file = this.txnOf(v);
    const r = await fallocate({
      ds: this.fs.ds, v,
      write: async (at, data) => { this.fs.refuseIfFailed(); await this.fs.txg.admit(); await this.fs.writes.write(file, at, data); },
      grow: (size) => v.lock.run(() => truncateData(this.fs.ds, v, Math.max(size, v.attrs.size), this.fs.dirtyCounter)),
    }, off, len, mode);
    this.fs.counters.fallocates++;
    this.fs.counters.bytesZeroed += r.zeroedBytes;
    return r;
  }

  /** lseek's SEEK_DATA / SEEK_HOLE through an open handle of `path` (fs/lseek.ts); a hidden tree's file is data to its end. */
  async seek(fh: number, path: string, off: number, what: 'data' | 'hole'): Promise<number> {
    const h = hiddenForFh(this.fs.hidden, fh);
    if (h) return seekWhole((await h.stat(path)).size, off, what);
    const { v } = this.fs.handles.get(fh);
    if (!v.isFile) fail('INVALID', 'not a regular file');
    return seekData(this.fs.ds, v, off, what);
  }
}
