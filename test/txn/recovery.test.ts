// Cut or garble the datastore at every byte of the last commit: it must open at the one before.
// fsync commits here (no oplog): what is tested is the commit itself.
import t from 'tap';
import { commitHashedBytes } from '../../src/format/commit.js';
import { LIMITS } from '../../src/limits.js';
import type { Filesystem } from '../../src/fs/filesystem.js';
import { contentOf, memDatastore, reopen, ROOT, SMALL } from '../helpers/mem.js';

const FILES = ['/a.raw', '/d/b.raw'];
const NO_LOG = { oplog: false };

async function fill(fs: Filesystem, path: string, off: number, len: number, byte: number) {
  const fh = await fs.open(path, true);
  await fs.write(fh, off, Buffer.alloc(len, byte));
  fs.release(fh);
}

t.test('recovery opens at the previous commit for any damage inside the last one', async (t) => {
  const { target, ds, fs } = await memDatastore(undefined, NO_LOG);
  await fs.mkdir('/d', 0o755, ROOT);
  for (const p of FILES) fs.release(fs.addHandle(await fs.create(p, 0o644, ROOT)));
  await fill(fs, '/a.raw', 0, 20000, 1);
  await fill(fs, '/d/b.raw', 5000, 9000, 2);
  await fs.fsync();
  await fill(fs, '/a.raw', 3000, 7000, 3);
  await fs.fsync();
  const before = await contentOf(fs);
  const prevTxg = ds.txg;
  const prevEnd = target.bytes.length;
  // the last commit: a small overwrite and an extension
  await fill(fs, '/a.raw', 100, 5000, 4);
  await fill(fs, '/d/b.raw', 14000, 3000, 5);
  await fs.fsync();
  const after = await contentOf(fs);
  t.not(after, before);
  const last = await ds.newestValidCommit();
  t.equal(last.txg, prevTxg + 1n);
  const image = Buffer.from(target.bytes);
  const abs = (seg: number, off: number) => LIMITS.HEADER_REGION + seg * SMALL.segmentSize + off;
  const extentBytes: number[] = [];
  for (const e of last.extents) for (let o = e.start; o < e.end; o++) extentBytes.push(abs(e.seg, o));
  const slotAt = LIMITS.COMMIT_RING_OFFSET + Number(last.txg % BigInt(LIMITS.COMMIT_SLOTS)) * LIMITS.SLOT_SIZE;
  const slotCovered = commitHashedBytes(last.extents.length);
  t.comment(`last commit: ${extentBytes.length} log bytes in ${last.extents.length} extents, ${slotCovered} commit-record bytes`);

  const openAs = async (bytes: Buffer) => {
    target.bytes = bytes;
    const r = await reopen(target, undefined, undefined, NO_LOG);
    return { txg: r.ds.txg, print: await contentOf(r.fs) };
  };
  let wrong = 0;
  const check = async (what: string, bytes: Buffer, wantTxg: bigint, want: string) => {
    const got = await openAs(bytes).catch((e) => ({ txg: -1n, print: String(e) }));
    if (got.txg !== wantTxg || got.print !== want) {
      wrong++;
      if (wrong < 5) t.fail(`${what}: opened at txg ${got.txg}, expected ${wantTxg}`);
    }
  };
  t.same(await openAs(Buffer.from(image)), { txg: last.txg, print: after }, 'undamaged: opens at the last commit');
  for (const at of extentBytes) {
    const g = Buffer.from(image); g[at] ^= 0xa5;
    await check(`garbled log byte ${at}`, g, prevTxg, before);
  }
  for (let at = slotAt; at < slotAt + slotCovered; at++) {
    const g = Buffer.from(image); g[at] ^= 0x5a;
    await check(`garbled commit byte ${at}`, g, prevTxg, before);
  }
  const tail = extentBytes.filter((x) => x >= prevEnd);
  t.equal(tail.length, extentBytes.length, 'the last commit was appended past everything before it');
  for (const at of tail) await check(`cut at ${at}`, image.subarray(0, at), prevTxg, before);
  t.equal(wrong, 0, `every one of ${extentBytes.length * 2 + slotCovered} damaged images opened at the previous commit`);
});
