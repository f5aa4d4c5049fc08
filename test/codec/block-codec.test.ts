import t from 'tap';
import { randomBytes } from 'node:crypto';
import { initChecksum, xxh64 } from '../../src/codec/checksum.js';
import { BlockCodec, Policy } from '../../src/codec/block-codec.js';
import { Compress, compressBlock, inflateBlock, sampledEntropy } from '../../src/codec/compress.js';
import { CODEC_COMPRESS_MASK, CODEC_SEALED, encodeRecord, framedBuffer, RECORD_HEADER, RecordKind, RecordMeta } from '../../src/codec/record.js';
import { KeyRing, keyMatches, parseKey, SEAL_OVERHEAD } from '../../src/codec/seal.js';
import { isVdfsError } from '../../src/errors.js';
import { LIMITS } from '../../src/limits.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

await initChecksum();
const BS = LIMITS.BLOCK_SIZE;
const seed = seedFromEnv();
t.comment(`seed ${seed}`);
const rand = rng(seed);
const uuid = randomBytes(16);
const master = randomBytes(32);

/** Lines of text with runs of zeros between them (compressible), random bytes, and a constant block. */
function sample(kind: 'text' | 'random' | 'constant', bs = BS): Buffer {
  if (kind === 'random') return randomBytes(bs);
  if (kind === 'constant') return Buffer.alloc(bs, 0x5a);
  const b = Buffer.alloc(bs);
  for (let at = 0; at < bs;) {
    const line = Buffer.from(`line ${Math.floor(rand() * 1e6)}: the quick brown fox jumps over the lazy dog\n`);
    at += line.copy(b, at) + Math.floor(rand() * 64);
  }
  return b;
}

const meta = (owner: bigint, key: bigint, birth = 9n): RecordMeta => ({ kind: RecordKind.Data, owner, key, birth });
const codecOf = (p: Policy, workers = 0, key: Buffer | null = master) => new BlockCodec(p, uuid, key ? new KeyRing(key, uuid) : null, workers);
const reframe = (bytes: Buffer): Buffer => { bytes.writeBigUInt64LE(xxh64(Buffer.concat([bytes.subarray(0, 40), bytes.subarray(RECORD_HEADER)])), 40); return bytes; };
const typedFailure = (f: () => unknown): string => {
  try { f(); return 'accepted'; } catch (e) { return isVdfsError(e) ? e.code : `untyped: ${(e as Error).message}`; }
};

t.test('round trip for every codec combination, inline and on worker threads', async (t) => {
  for (const compress of [Compress.None, Compress.Deflate]) {
    for (const encrypt of [false, true]) {
      for (const workers of [0, 2]) {
        const c = codecOf({ compress, level: 6, encrypt }, workers);
        const kinds = ['text', 'random', 'constant'] as const;
        const items = kinds.map((k, i) => ({ meta: meta(20n, BigInt(i)), data: sample(k) }));
        const recs = await c.encodeData(items);
        const what = `compress ${compress} encrypt ${encrypt} workers ${workers}`;
        recs.forEach((r, i) => {
          t.ok(c.decode(r.bytes, { ...items[i].meta, checksum: r.checksum }, encrypt).equals(items[i].data), `${what}: ${kinds[i]} comes back`);
          const codec = r.bytes[5];
          t.equal(!!(codec & CODEC_SEALED), encrypt, `${what}: ${kinds[i]} sealed exactly when encrypting`);
          const shouldCompress = compress === Compress.Deflate && kinds[i] !== 'random';
          t.equal((codec & CODEC_COMPRESS_MASK) === Compress.Deflate, shouldCompress, `${what}: ${kinds[i]} compressed: ${shouldCompress}`);
          if (kinds[i] === 'random') t.equal(r.bytes.length, RECORD_HEADER + BS + (encrypt ? SEAL_OVERHEAD : 0), `${what}: random block stored raw`);
        });
        const node = c.encodeNode({ kind: RecordKind.Node, owner: 3n, key: 0n, birth: 9n }, sample('text', 4096));
        t.equal(node.bytes[5], encrypt ? CODEC_SEALED : 0, `${what}: nodes sealed when encrypting, never compressed`);
        await c.close();
      }
    }
  }
});

t.test('every single-byte change of a stored encrypted block gives a typed error (never its bytes)', async (t) => {
  for (const compress of [Compress.None, Compress.Deflate]) {
    const c = codecOf({ compress, level: 1, encrypt: true });
    const m = meta(31n, 5n);
    const [rec] = await c.encodeData([{ meta: m, data: sample('text') }]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < rec.bytes.length; i++) {
      // As stored (the checksum catches it), and re-framed with a fresh checksum (only the seal can).
      for (const framed of [false, true]) {
        const bad = Buffer.from(rec.bytes);
        bad[i] ^= 1 << (i % 8);
        if (framed && (i < 40 || i >= 48)) reframe(bad);
        const why = typedFailure(() => c.decode(bad, framed ? m : { ...m, checksum: rec.checksum }, true));
        counts[why] = (counts[why] ?? 0) + 1;
      }
    }
    t.notOk(counts.accepted, `compress ${compress}: no changed byte accepted`);
    t.notOk(Object.keys(counts).some((k) => k.startsWith('untyped')), `compress ${compress}: every failure typed: ${JSON.stringify(counts)}`);
    t.ok(counts.AUTH > rec.bytes.length - RECORD_HEADER - 8, `compress ${compress}: the seal catches each re-framed payload change (${counts.AUTH})`);
  }
});

t.test('a sealed block moved to another file, block, time or datastore fails authentication', async (t) => {
  const c = codecOf({ compress: Compress.None, level: 1, encrypt: true });
  const m = meta(40n, 7n, 12n);
  const [rec] = await c.encodeData([{ meta: m, data: sample('random') }]);
  t.ok(c.decode(rec.bytes, m, true).length === BS, 'in place it reads');
  for (const [field, at, value] of [['file', 16, 41n], ['block', 24, 8n], ['birth', 32, 13n]] as const) {
    const moved = Buffer.from(rec.bytes);
    moved.writeBigUInt64LE(value, at); // a header rewritten to pass as the other block, checksum and all
    reframe(moved);
    t.equal(typedFailure(() => c.decode(moved, { ...m, [field === 'file' ? 'owner' : field === 'block' ? 'key' : 'birth']: value }, true)), 'AUTH', `copied to another ${field}: AUTH`);
  }
  const other = new BlockCodec({ compress: Compress.None, level: 1, encrypt: true }, randomBytes(16), new KeyRing(master, uuid), 0);
  t.equal(typedFailure(() => other.decode(rec.bytes, m, true)), 'AUTH', 'another datastore (same key): AUTH');
  t.equal(typedFailure(() => codecOf({ compress: Compress.None, level: 1, encrypt: false }, 0, randomBytes(32)).decode(rec.bytes, m, true)), 'AUTH', 'another key: AUTH');
  t.equal(typedFailure(() => codecOf({ compress: Compress.None, level: 1, encrypt: false }, 0, null).decode(rec.bytes, m, true)), 'KEY', 'no key: KEY');
  // A forged unsealed record with the same identity and checksum field: refused because its pointer says sealed.
  const forged = encodeRecord(m, Buffer.alloc(BS, 0x45));
  t.equal(typedFailure(() => c.decode(forged.bytes, { ...m, checksum: forged.checksum }, true)), 'AUTH', 'an unsealed record where a sealed one belongs: AUTH');
  t.equal(typedFailure(() => c.decode(rec.bytes, m, false)), 'AUTH', 'and a sealed one where the pointer says unsealed');
});

t.test('nonces never repeat: one counter per epoch, a new epoch per process and per SEAL_RECORDS_PER_EPOCH', async (t) => {
  const ring = new KeyRing(master, uuid);
  const c = new BlockCodec({ compress: Compress.Deflate, level: 1, encrypt: true }, uuid, ring, 2);
  const seen = new Set<string>();
  let n = 0;
  for (let round = 0; round < 20; round++) {
    const items = Array.from({ length: 1 + Math.floor(rand() * 80) }, (_, i) => ({ meta: meta(1n, BigInt(i)), data: sample(rand() < 0.5 ? 'text' : 'random', 4096) }));
    for (const r of [...(await c.encodeData(items)), c.encodeNode({ kind: RecordKind.Node, owner: 1n, key: 0n, birth: 1n }, Buffer.alloc(64))]) {
      seen.add(r.bytes.subarray(RECORD_HEADER, RECORD_HEADER + 28).toString('hex')); n++;
    }
  }
  await c.close();
  t.equal(seen.size, n, `${n} records, ${n} distinct epoch+nonce pairs`);
  const a = ring.reserve(1), other = new KeyRing(master, uuid).reserve(1);
  t.notOk(a.epoch.equals(other.epoch), 'another process (a restart after a crash) opens another epoch');
  ring.reserve(Number(LIMITS.SEAL_RECORDS_PER_EPOCH) - 10);
  const next = ring.reserve(20);
  t.notOk(next.epoch.equals(a.epoch), 'an epoch that cannot take the whole run is replaced');
  t.equal(next.counter, 0n, 'and the new one counts from 0');
  t.notOk(next.key.equals(a.key), 'with its own key');
});

t.test('key files: 32 raw bytes or 64 hex digits; anything else is refused with the reason', async (t) => {
  const raw = randomBytes(32);
  t.ok(parseKey(raw, 'k').equals(raw), 'raw 32 bytes');
  t.ok(parseKey(Buffer.from(raw.toString('hex') + '\n'), 'k').equals(raw), 'hex with newline');
  for (const bad of [raw.subarray(0, 31), Buffer.concat([raw, Buffer.from([1])]), Buffer.alloc(0), Buffer.from(raw.toString('hex').slice(0, 63)), Buffer.from('zz'.repeat(32))]) {
    t.throws(() => parseKey(bad, 'k'), { code: 'KEY', message: /a key is 32 raw bytes or 64 hex digits/ }, `${bad.length} bytes refused`);
  }
  const check = new KeyRing(raw, uuid).check;
  t.ok(keyMatches(raw, uuid, check), 'the right key matches its check');
  t.notOk(keyMatches(randomBytes(32), uuid, check), 'another key does not');
  t.notOk(check.includes(raw.subarray(0, 8)), 'the check does not contain the key');
});

t.test('compression: kept only below the ratio; the probe skips random data; inflate is exact', async (t) => {
  t.ok(sampledEntropy(randomBytes(BS)) > LIMITS.COMPRESS_PROBE_MAX_BITS, 'random data probes above the cut');
  t.ok(sampledEntropy(sample('text')) < 6, 'text probes well below it');
  t.equal(compressBlock(randomBytes(BS), 6), null, 'random: stored raw');
  const few = Buffer.from(randomBytes(BS).map((x) => x % 160)); // log2(160) = 7.3 bits a byte
  t.ok(sampledEntropy(few) <= LIMITS.COMPRESS_PROBE_MAX_BITS, 'random bytes of 160 values pass the probe…');
  t.equal(compressBlock(few, 6), null, '…but save under 1 − COMPRESS_KEEP_RATIO, so they are stored raw');
  const text = sample('text');
  const z = compressBlock(text, 6)!;
  t.ok(z.length < text.length * LIMITS.COMPRESS_KEEP_RATIO, `text: ${text.length} → ${z.length}`);
  t.ok(inflateBlock(z, text.length).equals(text), 'inflates back');
  t.throws(() => inflateBlock(z, text.length - 1), { code: 'CORRUPT' }, 'a stream longer than logicalLen is CORRUPT');
  t.throws(() => inflateBlock(z, text.length + 1), { code: 'CORRUPT' }, 'a shorter one too');
  t.throws(() => inflateBlock(z.subarray(0, z.length >> 1), text.length), { code: 'CORRUPT' }, 'a cut stream too');
  t.throws(() => compressBlock(text, 0), { code: 'INVALID' }, 'level 0 refused');
});

t.test('a codec worker that dies mid-job: the batch is encoded inline, the worker replaced', async (t) => {
  const c = codecOf({ compress: Compress.Deflate, level: 1, encrypt: true }, 1);
  const items = Array.from({ length: 64 }, (_, i) => ({ meta: meta(5n, BigInt(i)), data: sample(i % 2 ? 'text' : 'random') }));
  await c.encodeData(items.slice(0, 1)); // starts the worker
  const pool = (c as unknown as { pool: { workers: { w: { terminate(): Promise<number> } }[]; alive: boolean; respawns: number } }).pool;
  const pending = c.encodeData(items);
  void pool.workers[0].w.terminate();
  const recs = await pending;
  t.equal(recs.length, items.length, 'every block encoded');
  recs.forEach((r, i) => { if (!c.decode(r.bytes, items[i].meta, true).equals(items[i].data)) t.fail(`block ${i} differs`); });
  t.equal(pool.respawns, 1, 'the worker died once');
  t.ok(pool.alive, 'a worker runs again');
  const again = await c.encodeData(items.slice(0, 4));
  t.ok(again.every((r, i) => c.decode(r.bytes, items[i].meta, true).equals(items[i].data)), 'and encodes');
  await c.close();
});

t.test('a framer frames one record at a time: a framed payload in place, loose ones into a shared slab, as encodeRecord would', async (t) => {
  const c = codecOf({ compress: Compress.None, level: 1, encrypt: false });
  const whole = framedBuffer(BS);
  randomBytes(BS).copy(whole);
  const block = sample('text');
  const subs = [0, 1, 2].map((i) => block.subarray(i * LIMITS.SUB_BYTES, (i + 1) * LIMITS.SUB_BYTES));
  const items = [{ meta: meta(7n, 1n), data: whole }, ...subs.map((data, i) => ({ meta: meta(7n, 100n + BigInt(i)), data }))];
  t.notOk(c.active(items), 'plain data under a plain policy needs framing only');
  t.ok(c.active([{ ...items[0], seal: true }]), 'a block kept sealed does not');
  const expect = items.map((x) => encodeRecord(x.meta, Buffer.from(x.data)));
  const raw0 = c.stats.raw;
  const f = c.framer(items);
  const got = items.map((x) => f.frame(x));
  got.forEach((r, i) => {
    t.ok(r.bytes.equals(expect[i].bytes), `record ${i}: the bytes encodeRecord makes`);
    t.equal(r.checksum, expect[i].checksum, `record ${i}: its checksum`);
    t.ok(c.decode(r.bytes, { ...items[i].meta, checksum: r.checksum }, false).equals(items[i].data), `record ${i} decodes to its data`);
  });
  t.equal(got[0].bytes.buffer, whole.buffer, 'the framed payload is framed in place (no copy)');
  t.equal(got[0].bytes.byteOffset, whole.byteOffset - RECORD_HEADER, 'its header in the room before it');
  t.ok(got[1].bytes.buffer === got[2].bytes.buffer && got[2].bytes.buffer === got[3].bytes.buffer, 'loose payloads share one slab');
  t.not(got[1].bytes.buffer, block.buffer, 'copied out of the block they are part of');
  t.equal(c.stats.raw - raw0, items.length, 'each framed record is counted in status');
  t.equal(got[1].bytes.buffer.byteLength, 3 * (RECORD_HEADER + LIMITS.SUB_BYTES), 'the slab holds what the items need, no more');
});
