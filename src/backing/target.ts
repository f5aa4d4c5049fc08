/** A backing target: a byte-addressed store (a datastore file, or memory in tests). */
import { constants, mkdir, open, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { DirectWrites, EmulatedDirect, FileDirect } from './direct.js';
import { directPolicy } from '../log/write-mode.js';

export interface Target {
  /** Reads len bytes at off; bytes past the end read as zeros. */
  read(off: number, len: number): Promise<Buffer>;
  /** The same into the caller's buffer (reused buffers: no allocation per read), where the target can. */
  readInto?(off: number, buf: Buffer): Promise<void>;
  /**
   * The bytes at off into `bufs` in order (one vectored read where the target can; past the end,
   * zeros). Reads of one `stream` (of up to READ_STREAMS) go through a descriptor of their own,
   * so the kernel's read-ahead follows each sequential stream rather than their interleaving.
   */
  readScatter?(off: number, bufs: Buffer[], stream?: number): Promise<void>;
  write(off: number, data: Buffer): Promise<void>;
  /** The concatenation of `parts` at off, in one call where the target can (no joined copy). */
  writev?(off: number, parts: Buffer[]): Promise<void>;
  /**
   * Writes that bypass the page cache, from aligned staging buffers (backing/direct.ts), where the
   * target takes them. Only a single layout may use them: finding a buffer's alignment writes at
   * DIRECT_PROBE_AT of the file, which only the single layout's header region leaves unused.
   */
  readonly direct?: DirectWrites;
  sync(): Promise<void>;
  /**
   * Writes data at off, durable when it returns, without making anything else durable (O_DSYNC:
   * an fdatasync of the whole file would also wait for every other write in flight).
   */
  writeDurable?(off: number, data: Buffer): Promise<void>;
  size(): Promise<number>;
  /** Bytes the target could still grow by (free space of the file system under it). */
  available(): Promise<number>;
  close(): Promise<void>;
  /** False once the storage behind the target is no longer what was opened (its file removed or replaced). */
  present?(): Promise<boolean>;
}

export const DATASTORE_FILE = 'datastore.vdfs';

/** Writes the concatenation of `parts` at off: one vectored write where the target takes them, else joined first. */
export function writeParts(t: Target, off: number, parts: Buffer[]): Promise<void> {
  return t.writev ? t.writev(off, parts) : t.write(off, Buffer.concat(parts));
}

export class FileTarget implements Target {
  /** `dsync`: the same file opened O_DSYNC, for writeDurable. */
  private constructor(private fh: FileHandle, private dsync: FileHandle, readonly path: string, private ino: number,
    readonly direct?: FileDirect) {}

  static async open(path: string, create: boolean): Promise<FileTarget> {
    try {
      const fh = await open(path, create ? 'w+' : 'r+');
      const ino = (await fh.stat()).ino;
      const dsync = await open(path, constants.O_RDWR | constants.O_DSYNC);
      if ((await dsync.stat()).ino !== ino) { await fh.close(); await dsync.close(); throw new VdfsError('IO', `${path} was replaced while it was opened`); }
      // Unless VDFS_DIRECT=0; which commits write directly is measured as they run (log/write-mode.ts).
      const direct = directPolicy() !== 'never' ? await FileDirect.open(path, fh.fd) : null;
      return new FileTarget(fh, dsync, path, ino, direct ?? undefined);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new VdfsError('NO_DATASTORE', `no datastore at ${path}`);
      throw new VdfsError('IO', `cannot open ${path}: ${code ?? String(e)}`);
    }
  }

  async read(off: number, len: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(len); // every byte is read or zeroed: no zero fill first
    await this.readInto(off, buf);
    return buf;
  }

  async readInto(off: number, buf: Buffer): Promise<void> {
    const len = buf.length;
    let done = 0;
    while (done < len) {
      const { bytesRead } = await this.fh.read(buf, done, len - done, off + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done < len) buf.fill(0, done); // past EOF reads as zeros
  }

  async readScatter(off: number, bufs: Buffer[], stream = 0): Promise<void> {
    const fh = await this.streamHandle(stream);
    const list = bufs.slice();
    let i = 0, at = off;
    while (i < list.length) {
      let got = (await fh.readv(list.slice(i, i + LIMITS.IOV_MAX), at)).bytesRead;
      if (got === 0) { for (; i < list.length; i++) list[i].fill(0); return; } // past EOF reads as zeros
      at += got;
      // whole buffers read; one read in part goes on from where it stopped
      while (i < list.length && got >= list[i].length) got -= list[i++].length;
      if (got > 0) list[i] = list[i].subarray(got);
    }
  }

  /**
   * Writes to the file, one at a time. ext4 takes the inode's lock for each buffered write, and
   * writes in flight together (a commit appends 4 MiB at a time without waiting) spun on it:
   * four libuv threads each took 12-14% of the CPU in rwsem_spin_on_owner during 1 MiB
   * sequential writes through the mount, for no more bytes written.
   */
  private writes: Promise<unknown> = Promise.resolve();
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writes.then(fn, fn);
    this.writes = run.catch(() => undefined);
    return run;
  }

  write(off: number, data: Buffer): Promise<void> { return this.serial(() => this.writeNow(off, data)).then(() => this.wrote(data.length)); }

  /**
   * Writeback started early: once WRITEBACK_HINT_BYTES have been written since the last sync, an
   * fdatasync starts in the background, so the disk writes a commit's log while the commit is
   * still appending, instead of all of it in the commit's own sync afterwards. Its result is
   * the next sync's: a writeback error is reported once per open file, so one a background
   * sync saw must fail the sync that makes the commit durable.
   */
  private sinceSync = 0;
  private early: Promise<void> | null = null;
  private wrote(n: number): void {
    this.sinceSync += n;
    if (this.sinceSync < LIMITS.WRITEBACK_HINT_BYTES || this.early) return;
    this.sinceSync = 0;
    const p = this.fh.datasync();
    this.early = p;
    // a failure stays in `early` for the next sync() to report
    void p.then(() => { if (this.early === p) this.early = null; }, () => undefined);
  }

  private async writeNow(off: number, data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, off + done);
      done += bytesWritten;
    }
  }

  writev(off: number, parts: Buffer[]): Promise<void> {
    return this.serial(() => this.writevNow(off, parts)).then(() => this.wrote(parts.reduce((n, p) => n + p.length, 0)));
  }

  private async writevNow(off: number, parts: Buffer[]): Promise<void> {
    const rest = parts.filter((p) => p.length);
    for (let i = 0; i < rest.length;) {
      let { bytesWritten } = await this.fh.writev(rest.slice(i, i + LIMITS.IOV_MAX), off);
      off += bytesWritten;
      // skip what was written (a short write leaves part of a buffer)
      while (i < rest.length && bytesWritten >= rest[i].length) bytesWritten -= rest[i++].length;
      if (bytesWritten) rest[i] = rest[i].subarray(bytesWritten);
    }
  }

  async sync(): Promise<void> {
    const early = this.early;
    this.early = null;
    this.sinceSync = 0;
    if (early) await early;
    await this.fh.datasync();
  }
  async writeDurable(off: number, data: Buffer): Promise<void> {
    for (let done = 0; done < data.length;) {
      const { bytesWritten } = await this.dsync.write(data, done, data.length - done, off + done);
      done += bytesWritten;
    }
  }
  async size(): Promise<number> { return (await this.fh.stat()).size; }
  async available(): Promise<number> {
    const s = await statfs(this.path);
    return s.bavail * s.bsize;
  }
  private closing: Promise<void> | null = null;

  /** Read handles of the streams past the first, opened on first use: the same open file, through /proc/self/fd (never another file at the path). */
  private streams = new Map<number, Promise<FileHandle>>();
  private streamHandle(stream: number): Promise<FileHandle> | FileHandle {
    const s = stream % LIMITS.READ_STREAMS;
    if (s === 0 || this.closing) return this.fh;
    let h = this.streams.get(s);
    if (!h) {
      h = open(`/proc/self/fd/${this.fh.fd}`, 'r').catch(() => this.fh); // no /proc: the one descriptor
      this.streams.set(s, h);
    }
    return h;
  }

  /** Closes every descriptor (each after its reads in flight: FileHandle.close waits for them); a second call waits for the same close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const h of this.streams.values()) { const fh = await h; if (fh !== this.fh) await fh.close(); }
      await this.direct?.close(); await this.dsync.close(); await this.fh.close();
    })();
    return this.closing;
  }
  async present(): Promise<boolean> {
    try { return (await stat(this.path)).ino === this.ino; } catch { return false; }
  }
}

/** True when a file exists at path (used by mkfs to refuse overwriting). */
export async function exists(path: string): Promise<boolean> {
  try { await stat(path); return true; } catch { return false; }
}

/** An in-memory target for tests; `bytes` is the whole content (tests may garble or cut it). */
export class MemTarget implements Target {
  private buf: Buffer = Buffer.alloc(0);
  private len = 0;
  syncs = 0;
  /** Tests: every operation fails with EIO while set. */
  failing = false;
  /** Tests: the target reports itself gone (as a removed directory would). */
  gone = false;
  /** With `direct`: direct writes as a file target takes them (alignment checked). */
  readonly direct?: EmulatedDirect;
  constructor(opts: { direct?: boolean } = {}) {
    if (opts.direct) this.direct = new EmulatedDirect((off, data) => this.write(off, data));
  }
  private check(): void { if (this.failing) throw new VdfsError('IO', 'injected I/O error'); }
  async present(): Promise<boolean> { return !this.gone; }
  get bytes(): Buffer { return this.buf.subarray(0, this.len); }
  set bytes(b: Buffer) { this.buf = b; this.len = b.length; }
  async read(off: number, len: number): Promise<Buffer> {
    const out = Buffer.alloc(len);
    await this.readInto(off, out);
    return out;
  }
  async readInto(off: number, out: Buffer): Promise<void> {
    this.check();
    out.fill(0);
    if (off < this.len) this.buf.copy(out, 0, off, Math.min(this.len, off + out.length));
  }
  async write(off: number, data: Buffer): Promise<void> {
    this.check();
    const end = off + data.length;
    if (end > this.buf.length) {
      const grown = Buffer.alloc(Math.max(end, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    if (end > this.len) this.len = end;
    data.copy(this.buf, off);
  }
  /** Writes the parts one after another (a file target's vectored write, as the spread layouts use it). */
  async writev(off: number, parts: Buffer[]): Promise<void> {
    for (const p of parts) { await this.write(off, p); off += p.length; }
  }
  async sync(): Promise<void> { this.check(); this.syncs++; }
  async size(): Promise<number> { return this.len; }
  /** Throws once gone, as statfs of a removed directory's file does. */
  async available(): Promise<number> {
    if (this.gone) throw new VdfsError('IO', 'no such file or directory (target gone)');
    return 1 << 30;
  }
  async close(): Promise<void> {}
}

/**
 * A target path as the user names it: a directory (the datastore file inside it, created with
 * the directory when `create`), or a regular file or block device used whole.
 */
export async function targetFile(path: string, create: boolean): Promise<string> {
  const st = await stat(path).catch(() => null);
  if (st && (st.isFile() || st.isBlockDevice())) return path;
  if (!st) {
    if (!create) throw new VdfsError('NO_DATASTORE', `${path} does not exist`);
    await mkdir(path, { recursive: true });
  } else if (!st.isDirectory()) {
    throw new VdfsError('INVALID', `${path} is not a directory, a file or a block device`);
  }
  return join(path, DATASTORE_FILE);
}

/** Targets on the file system (spread.ts's TargetSource). */
export const fileSource = {
  async open(path: string, create: boolean): Promise<FileTarget> { return FileTarget.open(await targetFile(path, create), create); },
  exists,
};
