// The codec policy of a datastore: compressed and encrypted records through commits, reopen,
// the cleaner and policy changes; keys refused with a reason and nothing written.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { SingleLayout } from '../../src/backing/layout.js';
import type { MemTarget } from '../../src/backing/target.js';
import { xxh64 } from '../../src/codec/checksum.js';
import { Compress } from '../../src/codec/compress.js';
import { CODEC_COMPRESS_MASK, CODEC_SEALED, RECORD_HEADER } from '../../src/codec/record.js';
import { decodePtr, ExtentState } from '../../src/format/ptr.js';
import { SB_COPIES } from '../../src/format/superblock.js';
import { commitHashedBytes } from '../../src/format/commit.js';
import { Datastore, readSuperblock } from '../../src/txn/datastore.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { LIMITS } from '../../src/limits.js';
import { block, DEFAULTS, digest, memDatastore, readWhole, reopen, ROOT, rng, seedFromEnv } from '../helpers/mem.js';
import { recountSpace } from '../helpers/space-check.js';

const key = randomBytes(32);
const ALL = { compress: Compress.Deflate, level: 1, encrypt: true };
const SMALL_ALL = () => ({ blockSize: 4096, segmentSize: 64 * 1024, policy: ALL });
const seed = seedFromEnv();
t.comment(`seed ${seed}`);
const rand = rng(seed);

/** Text-like (compressible) or random content for a block. */
const content = (bs: number, random: boolean, tag: number): Buffer => random ? randomBytes(bs)
  : Buffer.from(Array.from({ length: bs }, (_, i) => (i % 97 < 60 ? 'vdfs block text '.charCodeAt(i % 16) + (tag % 7) : 0)));

async function writeFile(fs: Filesystem, path: string, blocks: Buffer[]): Promise<string> {
  const fh = fs.addHandle(await fs.create(path, 0o644, ROOT));
  let off = 0;
  for (const b of blocks) { await fs.write(fh, off, b); off += b.length; }
  fs.release(fh);
  return createHash('sha256').update(Buffer.concat(blocks)).digest('hex');
}

/** Logical and stored bytes recounted from every file's map (what the inodes and ds.data must say). */
async function recountData(ds: Datastore, fs: Filesystem): Promise<{ logical: number; stored: number }> {
  const out = { logical: 0, stored: 0 };
  for await (const [k] of ds.inodes.scan()) {
    const v = await fs.vnode(k.readBigUInt64BE(0));
    for await (const [, val] of v.map.scan()) {
      const p = decodePtr(val);
      if (p.state === ExtentState.Present) { out.logical += ds.blockSize; out.stored += p.len; }
    }
  }
  return out;
}

/** codec byte of every present block of a file (and the pointer's sealed bit must agree with it). */
async function codecsOf(ds: Datastore, fs: Filesystem, path: string): Promise<number[]> {
  const v = await fs.resolve(path);
  const out: number[] = [];
  for await (const [, val] of v.map.scan()) {
    const p = decodePtr(val);
    if (p.state !== ExtentState.Present) continue;
    const codec = (await ds.layout.readSeg(p.seg, p.off, RECORD_HEADER))[5];
    if (!!p.sealed !== !!(codec & CODEC_SEALED)) throw new Error(`pointer sealed=${p.sealed}, record codec ${codec}`);
    out.push(codec);
  }
  return out;
}

t.test('compressed + encrypted: content, sizes and codecs survive commit and reopen', async (t) => {
  const { target, ds, fs } = await memDatastore({ ...DEFAULTS, policy: ALL, key });
  const bs = ds.blockSize;
  const text = Array.from({ length: 64 }, (_, i) => content(bs, false, i));
  const random = Array.from({ length: 64 }, (_, i) => content(bs, true, i));
  const want = { text: await writeFile(fs, '/text.raw', text), random: await writeFile(fs, '/random.raw', random) };
  await fs.fsync();
  t.equal(ds.data.logical, 128 * bs, 'logical bytes: every present block');
  t.ok(ds.data.stored < ds.data.logical * 0.7, `stored ${ds.data.stored} below logical ${ds.data.logical}`);
  const codecs = { text: await codecsOf(ds, fs, '/text.raw'), random: await codecsOf(ds, fs, '/random.raw') };
  t.ok(codecs.text.every((c) => c === (Compress.Deflate | CODEC_SEALED)), 'text blocks deflated and sealed');
  t.ok(codecs.random.every((c) => c === CODEC_SEALED), 'random blocks stored raw, sealed');
  await fs.close();
  const again = await reopen(target, DEFAULTS.segmentSize, { key });
  t.equal(await digest(again.fs, '/text.raw'), want.text, 'text reads back after reopen');
  t.equal(await digest(again.fs, '/random.raw'), want.random, 'random reads back after reopen');
  t.same(again.ds.data, ds.data, 'logical and stored bytes the same after reopen');
  t.same(await recountData(again.ds, again.fs), again.ds.data, 'and equal to a recount from the block maps');
  await again.fs.close();
});

t.test('missing, wrong or badly sized keys are refused and nothing is written', async (t) => {
  const { target, fs } = await memDatastore({ ...SMALL_ALL(), key });
  await writeFile(fs, '/a', [content(4096, false, 1)]);
  await fs.close();
  const before = Buffer.from(target.bytes);
  const open = (k?: Buffer) => Datastore.open(new SingleLayout(target, 64 * 1024), { key: k });
  await t.rejects(open(), { code: 'KEY', message: /encrypted: give its key/ }, 'no key');
  await t.rejects(open(randomBytes(32)), { code: 'KEY', message: /wrong key/ }, 'wrong key');
  t.ok(target.bytes.equals(before), 'the datastore is byte for byte unchanged');
  const ok = await open(key);
  t.ok((await readWhole(new Filesystem(ok), '/a')).equals(content(4096, false, 1)), 'the right key reads');
  await t.rejects(Datastore.mkfs(new SingleLayout(target, 64 * 1024), { policy: { encrypt: true } }), { code: 'KEY' }, 'mkfs --encrypt without a key');
});


t.test('the policy changes over a datastore\'s life; records of every earlier policy stay readable', async (t) => {
  const { target, ds, fs } = await memDatastore(DEFAULTS);
  const bs = ds.blockSize;
  const plain = Array.from({ length: 8 }, (_, i) => content(bs, false, i));
  const want: Record<string, string> = { '/plain': await writeFile(fs, '/plain', plain) };
  await fs.fsync();
  await t.rejects(ds.setPolicy({ ...ALL }), { code: 'KEY' }, 'encrypt=on without a key is refused');
  await ds.setPolicy({ ...ALL }, key);
  want['/sealed'] = await writeFile(fs, '/sealed', plain);
  await fs.fsync();
  await ds.setPolicy({ compress: Compress.None, level: 1, encrypt: false });
  want['/raw-again'] = await writeFile(fs, '/raw-again', plain);
  await fs.close();
  t.equal((await readSuperblock(new SingleLayout(target, DEFAULTS.segmentSize))).generation, 3n, 'each change bumps the generation');
  await t.rejects(reopen(target, DEFAULTS.segmentSize), { code: 'KEY' }, 'once a key was set, opening needs it');
  const r = await reopen(target, DEFAULTS.segmentSize, { key });
  for (const [path, sum] of Object.entries(want)) t.equal(await digest(r.fs, path), sum, `${path} reads back`);
  t.same(new Set(await codecsOf(r.ds, r.fs, '/plain')), new Set([0]), 'blocks written before stay raw');
  t.same(new Set(await codecsOf(r.ds, r.fs, '/sealed')), new Set([Compress.Deflate | CODEC_SEALED]), 'blocks written under the policy are deflated and sealed');
  t.same(new Set(await codecsOf(r.ds, r.fs, '/raw-again')), new Set([0]), 'and raw again after it is turned off');
  await t.rejects(r.ds.setPolicy({ ...ALL }, randomBytes(32)), { code: 'KEY', message: /wrong key/ }, 'another key is refused once one is set');
  await r.fs.close();
});

t.test('a policy change torn between the superblock copies leaves the old or the new policy whole', async (t) => {
  const { target, ds, fs } = await memDatastore(DEFAULTS);
  await fs.close();
  const slot = (i: 0 | 1) => target.bytes.subarray(SB_COPIES[i], SB_COPIES[i] + LIMITS.SLOT_SIZE);
  const old1 = Buffer.from(slot(1));
  await ds.setPolicy({ compress: Compress.Deflate, level: 9, encrypt: false });
  const read = async () => (await readSuperblock(new SingleLayout(target, DEFAULTS.segmentSize))).policy.level;
  old1.copy(slot(1)); // crash after copy 0: copy 1 still old
  t.equal(await read(), 9, 'copy 0 new, copy 1 old: the higher generation (new) wins');
  slot(0).fill(0xee, 50, 60); // crash while writing copy 0: torn, copy 1 old
  t.equal(await read(), LIMITS.COMPRESS_DEFAULT_LEVEL, 'copy 0 torn, copy 1 old: the old policy opens');
});

t.test('the cleaner moves compressed and encrypted blocks: content, space and sizes exact; sealed stays sealed after encryption is off', async (t) => {
  const { target, ds, fs } = await memDatastore({ ...SMALL_ALL(), key });
  const bs = ds.blockSize, blocks = 2048;
  const version = new Array<number>(blocks).fill(0);
  const fh = fs.addHandle(await fs.create('/disk.raw', 0o644, ROOT));
  // Random blocks (stored raw) so that segments fill as uncompressed ones would.
  const data = (lbn: number, v: number) => { const b = randomBytes(bs); b.writeUInt32LE(lbn, 0); b.writeUInt32LE(v, 4); return b; };
  const live = new Map<number, Buffer>();
  for (let lbn = 0; lbn < blocks; lbn++) { const b = data(lbn, 0); live.set(lbn, b); await fs.write(fh, lbn * bs, b); }
  await fs.fsync();
  const sealedUntil = ds.txg;
  await ds.setPolicy({ compress: Compress.Deflate, level: 1, encrypt: false });
  // Only even blocks are written from here on: odd ones move only when the cleaner moves them.
  for (let i = 0; i < 6 * blocks; i++) {
    const lbn = 2 * Math.floor(rand() * (blocks / 2));
    const b = i % 3 ? data(lbn, ++version[lbn]) : block(bs, lbn, ++version[lbn]); // a third compress
    live.set(lbn, b);
    await fs.write(fh, lbn * bs, b);
    if (i % 256 === 255) await fs.fsync();
  }
  await fs.fsync();
  await fs.fsync();
  t.ok(fs.cleaner.stats.segmentsCleaned > 0, `the cleaner ran: ${JSON.stringify(fs.cleaner.stats)} (seed ${seed})`);
  t.same((await recountSpace(ds)).mismatches, [], 'space recount exact');
  t.same(await recountData(ds, fs), ds.data, 'logical and stored bytes equal a recount from the maps');
  const v = await fs.resolve('/disk.raw');
  let oddMoved = 0, oddUnsealed = 0, evenSealed = 0;
  for await (const [k, val] of v.map.scan()) {
    const p = decodePtr(val), lbn = Number(k.readBigUInt64BE(0));
    if (lbn % 2) { if (p.birth > sealedUntil) oddMoved++; if (!p.sealed) oddUnsealed++; } else if (p.sealed) evenSealed++;
  }
  t.ok(oddMoved > 0, `the cleaner moved ${oddMoved} blocks written while encryption was on`);
  t.equal(oddUnsealed, 0, 'every one of them is still sealed');
  t.equal(evenSealed, 0, 'blocks written after encryption was turned off are not');
  fs.release(fh);
  await fs.close();
  const r = await reopen(target, SMALL_ALL().segmentSize, { key });
  const want = createHash('sha256');
  for (let lbn = 0; lbn < blocks; lbn++) want.update(live.get(lbn)!);
  t.equal(await digest(r.fs, '/disk.raw'), want.digest('hex'), `every block reads back (seed ${seed})`);
  await r.fs.close();
});

t.test('with a key, a commit or superblock altered with its checksum recomputed is not taken', async (t) => {
  const ringAt = LIMITS.COMMIT_RING_OFFSET;
  /** Alters the newest commit's nextIno and recomputes its xxhash (what anyone can do without the key). */
  const forgeNewest = (target: MemTarget, txg: bigint) => {
    const at = ringAt + Number(txg % BigInt(LIMITS.COMMIT_SLOTS)) * LIMITS.SLOT_SIZE;
    const slot = target.bytes.subarray(at, at + LIMITS.SLOT_SIZE);
    slot.writeBigUInt64LE(slot.readBigUInt64LE(40) + 1000n, 40);
    const end = commitHashedBytes(slot.readUInt32LE(60)) - 8;
    slot.writeBigUInt64LE(xxh64(slot.subarray(0, end)), end);
  };
  for (const keyed of [false, true]) {
    const { target, ds, fs } = await memDatastore({ ...SMALL_ALL(), policy: keyed ? ALL : {}, key: keyed ? key : undefined });
    await writeFile(fs, '/a', [content(4096, false, 2)]);
    await fs.close();
    const newest = ds.txg;
    forgeNewest(target, newest);
    const r = await Datastore.open(new SingleLayout(target, 64 * 1024), { key: keyed ? key : null });
    if (keyed) t.equal(r.txg, newest - 1n, 'keyed: the altered commit fails its MAC, the one before it opens');
    else t.equal(r.txg, newest, 'without a key the same alteration is taken (the check can fail)');
  }
  const { target, ds } = await memDatastore({ ...SMALL_ALL(), key });
  await ds.close();
  const sb = target.bytes.subarray(SB_COPIES[0], SB_COPIES[0] + 144);
  sb[57] = 9; // the compression level
  sb.writeBigUInt64LE(5n, 48); // and a higher generation, so that it would win
  sb.writeBigUInt64LE(xxh64(sb.subarray(0, 136)), 136);
  const one = await Datastore.open(new SingleLayout(target, 64 * 1024), { key });
  t.same([one.sb.generation, one.sb.policy.level], [1n, 1], 'copy 0 altered: its MAC fails, so copy 1 opens');
  target.bytes.subarray(SB_COPIES[0], SB_COPIES[0] + 144).copy(target.bytes, SB_COPIES[1]);
  await t.rejects(Datastore.open(new SingleLayout(target, 64 * 1024), { key }), { code: 'BAD_SUPERBLOCK', message: /fails authentication/ }, 'an altered superblock is refused');
});

t.test('an older, validly signed superblock put back is refused (the commits name a newer one)', async (t) => {
  const { target, ds, fs } = await memDatastore({ ...SMALL_ALL(), key });
  const old = [0, 1].map((i) => Buffer.from(target.bytes.subarray(SB_COPIES[i as 0 | 1], SB_COPIES[i as 0 | 1] + LIMITS.SLOT_SIZE)));
  await ds.setPolicy({ compress: Compress.Deflate, level: 1, encrypt: false });
  await writeFile(fs, '/a', [content(4096, false, 3)]);
  await fs.close();
  const r = await Datastore.open(new SingleLayout(target, 64 * 1024), { key });
  t.equal(r.sb.generation, 2n, 'opens with the new superblock');
  old.forEach((b, i) => b.copy(target.bytes, SB_COPIES[i as 0 | 1]));
  await t.rejects(Datastore.open(new SingleLayout(target, 64 * 1024), { key }), { code: 'BAD_SUPERBLOCK', message: /older copy was put back/ }, 'the old superblock (encryption on, signed) is refused');
});
