/**
 * FUSE requests → Filesystem calls. Each handler gets the request's header and body (a copy it
 * may keep) and returns the reply's payload, a negative errno, or null for requests that take no
 * reply (FORGET, INTERRUPT). A thrown vdfs error becomes its errno in session.ts.
 *
 * Paths come from the node table. A file unlinked (or renamed over) while open is renamed aside
 * to `.fuse_hidden<id>` and unlinked at its last release, as libfuse's high-level API does, so
 * its data stays readable and writable through the handles that are still open.
 */
import { constants } from 'node:fs';
import type { Filesystem, Stat } from '../../fs/filesystem.js';
import { fail, isVdfsError } from '../../errors.js';
import { LIMITS } from '../../limits.js';
import { ENOSYS, EINVAL, EEXIST, EOPNOTSUPP, EPERM } from '../errno.js';
import { NodeTable, type Node } from './nodes.js';
import * as P from './proto.js';
import { getNumLE, putNumLE } from '../../codec/u64.js';

export type Reply = Buffer | Buffer[] | number | null;
type Handler = (h: P.InHeader, body: Buffer) => Promise<Reply> | Reply;

const O_ACCMODE = 3; // not in node's fs.constants
const { O_RDONLY, O_DSYNC, O_DIRECT, S_IFMT, S_IFREG } = constants;
/**
 * How the kernel is to treat an open: /.control always direct; an O_DIRECT open of a vdisk direct
 * with parallel writes (the kernel then takes the inode lock shared, so 16 threads of qemu
 * `aio=threads` or fio psync reach the write path together, as libaio's queue does); others
 * through the page cache.
 */
const openFlags = (control: boolean, flags: number): number =>
  control ? P.FOPEN_DIRECT_IO : flags & O_DIRECT ? P.FOPEN_DIRECT_IO | P.FOPEN_PARALLEL_DIRECT_WRITES : 0;
const HIDDEN_PREFIX = '.fuse_hidden';

/** `onInit` runs when INIT has been answered (the mount waits for it before tuning read-ahead). */
export function makeHandlers(fs: Filesystem, nodes: NodeTable, onInit: () => void): Map<number, Handler> {
  const fhNode = new Map<number, Node>();
  const listings = new Map<number, P.Dirent[]>();
  let nextListing = 1;
  const validFor = (path: string) => (path === '/.control' || path.startsWith('/.control/') ? 0 : LIMITS.FUSE_ATTR_VALID_MS);
  /** The request's node; one whose name was removed answers ENOENT (its path may name another file by now). */
  const node = (h: P.InHeader) => { const n = nodes.get(h.nodeid); if (n.gone) fail('NOT_FOUND', 'removed'); return n; };
  const name = (body: Buffer, off = 0) => P.cstring(body, off).s;

  async function entry(dir: Node, nm: string, st?: Stat): Promise<Buffer> {
    const path = nodes.childPath(dir, nm);
    const s = st ?? (await fs.getattr(path));
    return P.entryOut(nodes.lookup(dir, nm).id, s, validFor(path));
  }
  const attr = async (n: Node) => { const path = nodes.path(n); return P.attrOut(await fs.getattr(path), validFor(path)); };

  /**
   * Opens through node n: its open count is raised before the filesystem is asked, so an unlink
   * or rename over it that arrives meanwhile sets the file aside instead of deleting it.
   */
  async function openVia(n: Node, open: () => Promise<number>): Promise<number> {
    n.opens++;
    try {
      const fh = await open();
      fhNode.set(fh, n);
      return fh;
    } catch (e) { n.opens--; nodes.released(n); throw e; }
  }

  /** Moves an open file out of the way of an unlink or a rename over it. */
  async function hideIfOpen(dir: Node, nm: string): Promise<boolean> {
    const n = dir.children.get(nm);
    if (!n || n.opens === 0 || n.hidden) return false;
    const hidden = `${HIDDEN_PREFIX}${n.id.toString(16).padStart(16, '0')}`;
    n.hidden = { done: false };
    try { await fs.rename(nodes.childPath(dir, nm), nodes.childPath(dir, hidden)); } catch (e) { n.hidden = undefined; throw e; }
    nodes.move(dir, nm, dir, hidden);
    n.hidden.done = true;
    if (n.opens === 0) await dropHidden(n); // its last handle closed while it was being moved
    return true;
  }

  async function dropHidden(n: Node): Promise<void> {
    if (!n.parent || n.parent.children.get(n.name) !== n) return;
    await fs.unlink(nodes.path(n)).catch(() => undefined);
    nodes.remove(n.parent, n.name);
  }

  async function release(fh: number): Promise<void> {
    fs.release(fh);
    const n = fhNode.get(fh);
    fhNode.delete(fh);
    if (!n) return;
    n.opens--;
    if (n.opens === 0 && n.hidden?.done) await dropHidden(n);
    nodes.released(n);
  }

  async function setattr(h: P.InHeader, b: Buffer): Promise<Reply> {
    const n = node(h), path = nodes.path(n);
    const valid = b.readUInt32LE(0), fh = getNumLE(b, 8);
    if (valid & P.FATTR.SIZE) await fs.truncate(path, valid & P.FATTR.FH ? fh : null, getNumLE(b, 16));
    if (valid & P.FATTR.MODE) await fs.chmod(path, b.readUInt32LE(68));
    if (valid & (P.FATTR.UID | P.FATTR.GID)) await fs.chown(path, valid & P.FATTR.UID ? b.readUInt32LE(76) : -1, valid & P.FATTR.GID ? b.readUInt32LE(80) : -1);
    if (valid & (P.FATTR.ATIME | P.FATTR.MTIME)) {
      const now = Date.now(), cur = await fs.getattr(path);
      const time = (bit: number, nowBit: number, secAt: number, nsecAt: number, old: number) =>
        !(valid & bit) ? old : valid & nowBit ? now : getNumLE(b, secAt) * 1000 + b.readUInt32LE(nsecAt) / 1e6;
      await fs.utimens(path, time(P.FATTR.ATIME, P.FATTR.ATIME_NOW, 32, 56, cur.atime), time(P.FATTR.MTIME, P.FATTR.MTIME_NOW, 40, 60, cur.mtime));
    }
    return attr(n);
  }

  async function rename(h: P.InHeader, b: Buffer, head: number, flags: number): Promise<Reply> {
    if (flags & ~P.RENAME_NOREPLACE) return EINVAL; // RENAME_EXCHANGE, RENAME_WHITEOUT: not supported
    const dir = node(h), to = nodes.get(getNumLE(b, 0));
    const from = P.cstring(b, head), toName = name(b, from.next);
    const src = nodes.childPath(dir, from.s), dst = nodes.childPath(to, toName);
    const existing = await fs.getattr(dst).catch((e) => { if (isVdfsError(e, 'NOT_FOUND')) return null; throw e; });
    if (existing && flags & P.RENAME_NOREPLACE) return EEXIST;
    if (existing && existing.ino === (await fs.getattr(src)).ino) return 0; // two names of one file: POSIX changes nothing
    if (existing && (existing.mode & S_IFMT) === S_IFREG && src !== dst) await hideIfOpen(to, toName);
    await fs.rename(src, dst);
    if (src !== dst) nodes.move(dir, from.s, to, toName);
    return 0;
  }

  /** FALLOCATE: size and zeroing modes (fs/fallocate.ts); COLLAPSE_RANGE, INSERT_RANGE, UNSHARE_RANGE are not offered. */
  async function fallocate(_h: P.InHeader, b: Buffer): Promise<Reply> {
    const { KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE } = P.FALLOC;
    const fh = getNumLE(b, 0), off = getNumLE(b, 8), len = getNumLE(b, 16), mode = b.readUInt32LE(24);
    if (mode & ~(KEEP_SIZE | PUNCH_HOLE | ZERO_RANGE)) return EOPNOTSUPP;
    if (mode & PUNCH_HOLE && (!(mode & KEEP_SIZE) || mode & ZERO_RANGE)) return EOPNOTSUPP; // as the VFS answers
    await fs.fallocate(fh, off, len, { keepSize: !!(mode & KEEP_SIZE), zero: !!(mode & (PUNCH_HOLE | ZERO_RANGE)) });
    return 0;
  }

  const handlers: [number, Handler][] = [
    [P.OP.INIT, (_h, b) => {
      const k = P.readInit(b);
      // No WRITEBACK_CACHE: a snapshot must hold every write() that returned (native-notes/kernel-binding.md).
      const want = P.INIT.ASYNC_READ | P.INIT.BIG_WRITES | P.INIT.ASYNC_DIO | P.INIT.PARALLEL_DIROPS | P.INIT.MAX_PAGES;
      const flags = k.flags & want;
      const maxWrite = flags & P.INIT.MAX_PAGES ? LIMITS.FUSE_MAX_WRITE : LIMITS.FUSE_DEFAULT_MAX_WRITE;
      setImmediate(onInit); // by then the reply below is written and taken by the kernel
      return P.initOut({
        minor: Math.min(k.minor, P.KERNEL_MINOR), maxReadahead: k.maxReadahead, flags,
        maxBackground: LIMITS.FUSE_MAX_BACKGROUND, congestion: Math.floor((LIMITS.FUSE_MAX_BACKGROUND * 3) / 4),
        maxWrite, maxPages: Math.ceil(maxWrite / 4096),
      });
    }],
    [P.OP.DESTROY, () => 0],
    [P.OP.LOOKUP, (h, b) => entry(node(h), name(b))],
    [P.OP.FORGET, (h, b) => { nodes.forget(h.nodeid, getNumLE(b, 0)); return null; }],
    [P.OP.BATCH_FORGET, (_h, b) => {
      const count = b.readUInt32LE(0);
      for (let i = 0; i < count; i++) nodes.forget(getNumLE(b, 8 + i * 16), getNumLE(b, 16 + i * 16));
      return null;
    }],
    [P.OP.GETATTR, (h) => attr(node(h))],
    [P.OP.SETATTR, setattr],
    [P.OP.FALLOCATE, fallocate],
    [P.OP.LSEEK, async (h, b) => {
      // fuse_lseek_in: 0 fh u64, 8 offset u64, 16 whence u32; the kernel answers SEEK_SET/CUR/END itself
      const whence = b.readUInt32LE(16);
      if (whence !== P.SEEK_DATA && whence !== P.SEEK_HOLE) return EINVAL;
      const at = await fs.seek(getNumLE(b, 0), nodes.path(node(h)), getNumLE(b, 8), whence === P.SEEK_DATA ? 'data' : 'hole');
      const out = Buffer.alloc(8); putNumLE(out, 0, at); // fuse_lseek_out: 0 offset u64
      return out;
    }],
    [P.OP.READLINK, async (h) => Buffer.from(await fs.readlink(nodes.path(node(h))))],
    [P.OP.SYMLINK, async (h, b) => {
      const nm = P.cstring(b, 0), target = name(b, nm.next), dir = node(h);
      await fs.symlink(target, nodes.childPath(dir, nm.s), { uid: h.uid, gid: h.gid });
      return entry(dir, nm.s);
    }],
    [P.OP.MKNOD, async (h, b) => {
      const mode = b.readUInt32LE(0), dir = node(h), nm = name(b, 16);
      if ((mode & S_IFMT) !== S_IFREG) return EPERM; // vdisks only: no devices, fifos or sockets
      await fs.create(nodes.childPath(dir, nm), mode & 0o7777, { uid: h.uid, gid: h.gid });
      return entry(dir, nm);
    }],
    [P.OP.MKDIR, async (h, b) => {
      const dir = node(h), nm = name(b, 8);
      await fs.mkdir(nodes.childPath(dir, nm), b.readUInt32LE(0) & 0o7777, { uid: h.uid, gid: h.gid });
      return entry(dir, nm);
    }],
    [P.OP.UNLINK, async (h, b) => {
      const dir = node(h), nm = name(b);
      if (!(await hideIfOpen(dir, nm))) { await fs.unlink(nodes.childPath(dir, nm)); nodes.remove(dir, nm); }
      return 0;
    }],
    [P.OP.RMDIR, async (h, b) => { const dir = node(h), nm = name(b); await fs.rmdir(nodes.childPath(dir, nm)); nodes.remove(dir, nm); return 0; }],
    [P.OP.RENAME, (h, b) => rename(h, b, 8, 0)],
    [P.OP.RENAME2, (h, b) => rename(h, b, 16, b.readUInt32LE(8))],
    [P.OP.LINK, async (h, b) => {
      const old = nodes.get(getNumLE(b, 0)), dir = node(h), nm = name(b, 8);
      await fs.hardlink(nodes.path(old), nodes.childPath(dir, nm));
      return entry(dir, nm);
    }],
    [P.OP.OPEN, async (h, b) => {
      const n = node(h), flags = b.readUInt32LE(0);
      const fh = await openVia(n, () => fs.open(nodes.path(n), (flags & O_ACCMODE) !== O_RDONLY, (flags & O_DSYNC) !== 0));
      return P.openOut(fh, openFlags(fs.isControlHandle(fh), flags));
    }],
    [P.OP.CREATE, async (h, b) => {
      const flags = b.readUInt32LE(0), mode = b.readUInt32LE(4), dir = node(h), nm = name(b, 16);
      const v = await fs.create(nodes.childPath(dir, nm), mode & 0o7777, { uid: h.uid, gid: h.gid });
      const e = await entry(dir, nm, fs.stat(v));
      const fh = await openVia(dir.children.get(nm)!, async () => fs.addHandle(v, (flags & O_DSYNC) !== 0));
      return [e, P.openOut(fh, openFlags(false, flags))];
    }],
    [P.OP.READ, (_h, b) => fs.readv(getNumLE(b, 0), getNumLE(b, 8), b.readUInt32LE(16))],
    [P.OP.WRITE, async (_h, b) => {
      const size = b.readUInt32LE(16);
      await fs.write(getNumLE(b, 0), getNumLE(b, 8), b.subarray(40, 40 + size));
      return P.writeOut(size);
    }],
    [P.OP.RELEASE, async (_h, b) => { await release(getNumLE(b, 0)); return 0; }],
    [P.OP.FLUSH, () => 0],
    [P.OP.FSYNC, async () => { await fs.fsync(); return 0; }],
    [P.OP.FSYNCDIR, async () => { await fs.fsync(); return 0; }],
    [P.OP.SYNCFS, async () => { await fs.fsync(); return 0; }],
    [P.OP.STATFS, async () => {
      await fs.refreshCapacity();
      const s = fs.statfs();
      return P.statfsOut({ blocks: s.blocks, bfree: s.bfree, bavail: s.bfree, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: s.namemax, frsize: s.bsize });
    }],
    [P.OP.OPENDIR, async (h) => {
      // The listing is taken once per open directory, so offsets stay meaningful across READDIRs.
      const n = node(h), path = nodes.path(n);
      const r = await fs.readdir(path);
      const self = await fs.getattr(path);
      const list: P.Dirent[] = [{ ino: self.ino, name: '.', mode: self.mode }, { ino: 1, name: '..', mode: self.mode }];
      r.names.forEach((nm, i) => list.push({ ino: r.stats[i].ino, name: nm, mode: r.stats[i].mode }));
      const id = nextListing++;
      listings.set(id, list);
      return P.openOut(id, 0);
    }],
    [P.OP.READDIR, (_h, b) => {
      const list = listings.get(getNumLE(b, 0));
      return list ? P.packDirents(list, getNumLE(b, 8), b.readUInt32LE(16)) : EINVAL;
    }],
    [P.OP.RELEASEDIR, (_h, b) => { listings.delete(getNumLE(b, 0)); return 0; }],
    [P.OP.INTERRUPT, () => null], // requests run to the end; the kernel drops replies it no longer waits for
    // Not provided (the kernel then stops asking, or falls back to its own generic code):
    // xattrs, ACCESS (default_permissions checks in the kernel).
    ...[P.OP.SETXATTR, P.OP.GETXATTR, P.OP.LISTXATTR, P.OP.REMOVEXATTR, P.OP.ACCESS].map((op): [number, Handler] => [op, () => ENOSYS]),
  ];
  return new Map(handlers);
}
