#!/usr/bin/env node
// A null FUSE filesystem on fuse-native: one file, /disk.raw, whose writes are accepted and
// dropped after one event-loop turn, and whose reads return zeros. Benchmarks run it next to vdfs
// to show the per-request ceiling of any fuse-native daemon on the machine.
// Usage: node scripts/fuse-null.mjs MOUNTPOINT SIZE_BYTES   (SIGTERM unmounts)
import Fuse from 'fuse-native';

const [mnt, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg ?? 2 ** 30);
const now = new Date();
const stat = (mode, bytes) => ({ mtime: now, atime: now, ctime: now, nlink: 1, size: bytes, mode, uid: 0, gid: 0, dev: 0, rdev: 0, blocks: 0, blksize: 4096 });
const ops = {
  getattr: (p, cb) => (p === '/' ? cb(0, stat(0o40755, 0)) : p === '/disk.raw' ? cb(0, stat(0o100644, size)) : cb(Fuse.ENOENT)),
  readdir: (p, cb) => cb(0, ['disk.raw']),
  open: (p, flags, cb) => cb(0, 1),
  release: (p, fd, cb) => cb(0),
  read: (p, fd, buf, len, pos, cb) => setImmediate(() => { buf.fill(0, 0, len); cb(len); }),
  write: (p, fd, buf, len, pos, cb) => setImmediate(() => cb(len)),
  fsync: (p, datasync, fd, cb) => cb(0),
  flush: (p, fd, cb) => cb(0),
  truncate: (p, s, cb) => cb(0),
  ftruncate: (p, fd, s, cb) => cb(0),
};
const fuse = new Fuse(mnt, ops, { force: true, autoUnmount: true });
fuse.mount((err) => {
  if (err) { console.error(`fuse-null: ${err.message}`); process.exit(1); }
  console.log('mounted');
});
process.on('SIGTERM', () => fuse.unmount(() => process.exit(0)));
