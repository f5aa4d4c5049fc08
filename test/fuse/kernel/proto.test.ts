// The FUSE wire codecs: every field lands at the offset fuse.h gives it.
import t from 'tap';
import * as P from '../../../src/fuse/kernel/proto.js';

const attr: P.Attr = { ino: 77, size: 5 * 2 ** 32 + 3, blocks: 9, atime: 1_700_000_000_250, mtime: 1_700_000_001_500, ctime: 1_700_000_002_000, mode: 0o100644, nlink: 2, uid: 1000, gid: 100, blksize: 32768 };

t.test('in-header', async (t) => {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(52, 0); b.writeUInt32LE(P.OP.LOOKUP, 4); b.writeBigUInt64LE(2n ** 40n + 7n, 8); b.writeBigUInt64LE(12n, 16);
  b.writeUInt32LE(1000, 24); b.writeUInt32LE(100, 28); b.writeUInt32LE(4242, 32);
  t.same(P.readInHeader(b), { len: 52, opcode: 1, unique: 2n ** 40n + 7n, nodeid: 12, uid: 1000, gid: 100, pid: 4242 });
});

t.test('out-header carries a negative errno', async (t) => {
  const b = P.outHeader(16, -2, 99n);
  t.same([b.length, b.readUInt32LE(0), b.readInt32LE(4), b.readBigUInt64LE(8)], [16, 16, -2, 99n]);
});

t.test('entry_out: node id, timeouts split into s and ns, attributes with times in s + ns', async (t) => {
  const b = P.entryOut(5, attr, 1500);
  t.equal(b.length, 128);
  t.same([b.readBigUInt64LE(0), b.readBigUInt64LE(8), b.readBigUInt64LE(16), b.readBigUInt64LE(24), b.readUInt32LE(32), b.readUInt32LE(36)], [5n, 0n, 1n, 1n, 500_000_000, 500_000_000]);
  const a = 40;
  t.same([b.readBigUInt64LE(a), b.readBigUInt64LE(a + 8), b.readBigUInt64LE(a + 16)], [77n, BigInt(attr.size), 9n], 'ino, size past 32 bits, blocks');
  t.same([b.readBigUInt64LE(a + 24), b.readUInt32LE(a + 48)], [1_700_000_000n, 250_000_000], 'atime');
  t.same([b.readBigUInt64LE(a + 32), b.readUInt32LE(a + 52)], [1_700_000_001n, 500_000_000], 'mtime');
  t.same([b.readBigUInt64LE(a + 40), b.readUInt32LE(a + 56)], [1_700_000_002n, 0], 'ctime');
  t.same([b.readUInt32LE(a + 60), b.readUInt32LE(a + 64), b.readUInt32LE(a + 68), b.readUInt32LE(a + 72), b.readUInt32LE(a + 80)], [0o100644, 2, 1000, 100, 32768]);
});

t.test('attr_out, open_out, write_out, statfs', async (t) => {
  const a = P.attrOut(attr, 0);
  t.same([a.length, a.readBigUInt64LE(0), a.readBigUInt64LE(16)], [104, 0n, 77n]);
  const o = P.openOut(2 ** 28 + 5, P.FOPEN_DIRECT_IO);
  t.same([o.length, o.readBigUInt64LE(0), o.readUInt32LE(8)], [16, BigInt(2 ** 28 + 5), 1]);
  t.same([P.writeOut(4096).readUInt32LE(0), P.writeOut(4096).length], [4096, 8]);
  const s = P.statfsOut({ blocks: 100, bfree: 40, bavail: 40, files: 9, ffree: 8, bsize: 4096, namelen: 255, frsize: 4096 });
  t.same([s.length, s.readBigUInt64LE(0), s.readBigUInt64LE(8), s.readBigUInt64LE(32), s.readUInt32LE(40), s.readUInt32LE(44), s.readUInt32LE(48)], [80, 100n, 40n, 8n, 4096, 255, 4096]);
});

t.test('init_out', async (t) => {
  const b = P.initOut({ minor: 31, maxReadahead: 131072, flags: P.INIT.ASYNC_DIO | P.INIT.MAX_PAGES, maxBackground: 64, congestion: 48, maxWrite: 1 << 20, maxPages: 256 });
  t.same([b.length, b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)], [64, 7, 31, 131072, P.INIT.ASYNC_DIO | P.INIT.MAX_PAGES]);
  t.same([b.readUInt16LE(16), b.readUInt16LE(18), b.readUInt32LE(20), b.readUInt32LE(24), b.readUInt16LE(28)], [64, 48, 1 << 20, 1, 256]);
});

t.test('cstring reads up to the NUL and says where the next starts', async (t) => {
  const b = Buffer.from('old\0new name\0');
  const a = P.cstring(b, 0);
  t.same([a.s, P.cstring(b, a.next).s], ['old', 'new name']);
});

t.test('dirents: 8-byte aligned, off names the next entry, packing stops at the size', async (t) => {
  const list: P.Dirent[] = ['.', '..', 'disk0.raw', 'a-much-longer-name-than-eight'].map((name, i) => ({ ino: i + 1, name, mode: i === 2 ? 0o100644 : 0o40755 }));
  const all = P.packDirents(list, 0, 4096);
  const sizes = list.map((e) => (24 + Buffer.byteLength(e.name) + 7) & ~7);
  t.equal(all.length, sizes.reduce((x, y) => x + y), 'each record padded to 8 bytes');
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    t.same([all.readBigUInt64LE(at), all.readBigUInt64LE(at + 8), all.readUInt32LE(at + 16), all.readUInt32LE(at + 20), all.toString('utf8', at + 24, at + 24 + all.readUInt32LE(at + 16))],
      [BigInt(i + 1), BigInt(i + 1), Buffer.byteLength(list[i].name), i === 2 ? 8 : 4, list[i].name], `entry ${i}`);
    at += sizes[i];
  }
  t.equal(P.packDirents(list, 0, sizes[0] + sizes[1] + sizes[2] - 1).length, sizes[0] + sizes[1], 'a record that does not fit is left for the next call');
  t.equal(P.packDirents(list, 2, 4096).readUInt32LE(20), 8, 'continues from the offset given');
  t.equal(P.packDirents(list, 4, 4096).length, 0, 'nothing past the end');
});
