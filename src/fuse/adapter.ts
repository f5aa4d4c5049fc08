/**
 * fuse-native callbacks → Filesystem calls. Every handler replies exactly once with a number
 * (0, a negative errno, or a byte count) or with data; exceptions become errno values; a request
 * that outlives FUSE_OP_TIMEOUT_MS is answered ETIMEDOUT and its late result is dropped (a late
 * read never writes into libfuse's buffer, which may by then serve another request).
 */
import { constants } from 'node:fs';
import type { Filesystem, Stat } from '../fs/filesystem.js';
import { LIMITS } from '../limits.js';
import { EIO, ETIMEDOUT, toErrno } from './errno.js';

type Reply = (code: number, ...rest: unknown[]) => void;
type Log = { error(o: object, msg: string): void; warn(o: object, msg: string): void };

// O_SYNC includes the O_DSYNC bit. The kernel also follows each such write with FUSE_FSYNC; the
// daemon commits on its own anyway, so durability does not rest on that kernel behaviour.
// fuse-native's create() gets no flags: a file created with O_DSYNC relies on the kernel's fsync.
const O_ACCMODE = 3; // not in node's fs.constants
const { O_RDONLY, O_DSYNC } = constants;
const ROOT = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

function toFuseStat(s: Stat): Record<string, number | Date> {
  return { ...s, atime: new Date(s.atime), mtime: new Date(s.mtime), ctime: new Date(s.ctime), dev: 0, rdev: 0 };
}

export function makeOps(fs: Filesystem, log: Log): Record<string, (...args: never[]) => void> {
  /** Runs work and replies once; `ok` turns its result into the reply's arguments. */
  function handle<T>(op: string, cb: Reply, work: () => Promise<T>, ok: (r: T, live: () => boolean) => unknown[], timeout = true): void {
    let done = false;
    const timer = timeout ? setTimeout(() => { done = true; log.warn({ op }, 'request timed out'); cb(ETIMEDOUT); }, LIMITS.FUSE_OP_TIMEOUT_MS) : undefined;
    const finish = (code: number, ...rest: unknown[]) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cb(code, ...rest);
    };
    work().then(
      (r) => { try { const [code, ...rest] = ok(r, () => !done) as [number, ...unknown[]]; finish(code, ...rest); } catch (e) { log.error({ op, err: e }, 'reply failed'); finish(EIO); } },
      (e) => {
        const errno = toErrno(e);
        if (errno === EIO) log.error({ op, err: e }, 'request failed');
        finish(errno);
      },
    );
  }
  const zero = () => [0];

  return {
    init: (cb: Reply) => cb(0),
    statfs: (_p: string, cb: Reply) => handle('statfs', cb, async () => { await fs.refreshCapacity(); return fs.statfs(); },
      (s) => [0, { ...s, frsize: s.bsize, bavail: s.bfree, favail: s.ffree }]),
    getattr: (p: string, cb: Reply) => handle('getattr', cb, () => fs.getattr(p), (s) => [0, toFuseStat(s)]),
    fgetattr: (p: string, _fd: number, cb: Reply) => handle('fgetattr', cb, () => fs.getattr(p), (s) => [0, toFuseStat(s)]),
    readdir: (p: string, cb: Reply) => handle('readdir', cb, () => fs.readdir(p), (r) => [0, r.names, r.stats.map(toFuseStat)]),
    open: (p: string, flags: number, cb: Reply) =>
      handle('open', cb, () => fs.open(p, (flags & O_ACCMODE) !== O_RDONLY, (flags & O_DSYNC) !== 0), (fh) => [0, fh]),
    opendir: (_p: string, _flags: number, cb: Reply) => cb(0, 0),
    releasedir: (_p: string, _fd: number, cb: Reply) => cb(0),
    create: (p: string, mode: number, cb: Reply) =>
      handle('create', cb, async () => fs.addHandle(await fs.create(p, mode, ROOT)), (fh) => [0, fh]),
    release: (_p: string, fd: number, cb: Reply) => { fs.release(fd); cb(0); },
    read: (_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: Reply) =>
      handle('read', cb, () => fs.read(fd, pos, len), (data, live) => {
        if (live()) data.copy(buf);
        return [data.length];
      }),
    write: (_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: Reply) => {
      const copy = Buffer.from(buf.subarray(0, len)); // libfuse owns buf once we return
      // A control command (restore, verify) runs as long as it takes: no timeout on its write.
      handle('write', cb, () => fs.write(fd, pos, copy), () => [len], !fs.isControlHandle(fd));
    },
    flush: (_p: string, _fd: number, cb: Reply) => cb(0),
    fsync: (_p: string, _datasync: number, _fd: number, cb: Reply) => handle('fsync', cb, () => fs.fsync(), zero),
    fsyncdir: (_p: string, _datasync: number, _fd: number, cb: Reply) => handle('fsyncdir', cb, () => fs.fsync(), zero),
    truncate: (p: string, size: number, cb: Reply) => handle('truncate', cb, () => fs.truncate(p, null, size), zero),
    ftruncate: (p: string, fd: number, size: number, cb: Reply) => handle('ftruncate', cb, () => fs.truncate(p, fd, size), zero),
    readlink: (p: string, cb: Reply) => handle('readlink', cb, () => fs.readlink(p), (t) => [0, t]),
    chown: (p: string, uid: number, gid: number, cb: Reply) => handle('chown', cb, () => fs.chown(p, uid, gid), zero),
    chmod: (p: string, mode: number, cb: Reply) => handle('chmod', cb, () => fs.chmod(p, mode), zero),
    utimens: (p: string, atime: number, mtime: number, cb: Reply) => handle('utimens', cb, () => fs.utimens(p, atime, mtime), zero),
    unlink: (p: string, cb: Reply) => handle('unlink', cb, () => fs.unlink(p), zero),
    rename: (src: string, dst: string, cb: Reply) => handle('rename', cb, () => fs.rename(src, dst), zero),
    link: (src: string, dst: string, cb: Reply) => handle('link', cb, () => fs.hardlink(src, dst), zero),
    symlink: (target: string, p: string, cb: Reply) => handle('symlink', cb, () => fs.symlink(target, p, ROOT), zero),
    mkdir: (p: string, mode: number, cb: Reply) => handle('mkdir', cb, () => fs.mkdir(p, mode, ROOT), zero),
    rmdir: (p: string, cb: Reply) => handle('rmdir', cb, () => fs.rmdir(p), zero),
  };
}
