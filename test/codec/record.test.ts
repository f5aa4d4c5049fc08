import t from 'tap';
import { initChecksum, xxh64 } from '../../src/codec/checksum.js';
import { decodeRecord, encodeRecord, framedBuffer, RecordKind } from '../../src/codec/record.js';
import { isVdfsError } from '../../src/errors.js';

await initChecksum();
const meta = { kind: RecordKind.Data, owner: 42n, key: 7n, birth: 3n };

t.test('round trip', async (t) => {
  for (const len of [0, 1, 100, 4096, 32768]) {
    const payload = Buffer.alloc(len);
    for (let i = 0; i < len; i++) payload[i] = (i * 31) & 255;
    const { bytes, checksum } = encodeRecord(meta, payload);
    const r = decodeRecord(bytes, { ...meta, checksum });
    t.ok(r.payload.equals(payload), `payload of ${len} bytes`);
  }
});

t.test('the checksum is xxh64 of header bytes 0..39 then the payload, framed in place or copied', async (t) => {
  for (const len of [0, 5, 4096]) {
    const payload = Buffer.alloc(len, 0x5a);
    const inPlace = framedBuffer(len); payload.copy(inPlace);
    for (const [how, p] of [['copied', payload], ['framed in place', inPlace]] as const) {
      const { bytes, checksum } = encodeRecord(meta, p);
      t.equal(checksum, xxh64(Buffer.concat([bytes.subarray(0, 40), payload])), `${how}, ${len} bytes`);
      t.equal(bytes.readBigUInt64LE(40), checksum, `${how}: stored at 40`);
      t.equal(bytes.readUInt32LE(0), 0x56445231, `${how}: magic at 0`);
      t.same([bytes.readBigUInt64LE(16), bytes.readBigUInt64LE(24), bytes.readBigUInt64LE(32)], [42n, 7n, 3n], `${how}: owner, key, birth`);
      t.ok(bytes.subarray(48).equals(payload), `${how}: payload after the header`);
    }
  }
});

t.test('every single-byte corruption gives a typed error, never wrong data', async (t) => {
  const payload = Buffer.from('the quick brown fox jumps over the lazy dog '.repeat(20));
  const { bytes, checksum } = encodeRecord(meta, payload);
  let typed = 0, other = 0, accepted = 0;
  for (let i = 0; i < bytes.length; i++) {
    for (const flip of [0x01, 0x80, 0xff]) {
      const bad = Buffer.from(bytes);
      bad[i] ^= flip;
      try {
        decodeRecord(bad, { ...meta, checksum });
        accepted++;
      } catch (e) {
        if (isVdfsError(e, 'CHECKSUM') || isVdfsError(e, 'CORRUPT')) typed++; else other++;
      }
    }
  }
  t.equal(accepted, 0, 'no corrupted record is accepted');
  t.equal(other, 0, 'all failures are typed errors');
  t.equal(typed, bytes.length * 3, 'every corruption was refused with CHECKSUM or CORRUPT');
});

t.test('a record of another identity is refused', async (t) => {
  const { bytes, checksum } = encodeRecord(meta, Buffer.alloc(64, 9));
  t.throws(() => decodeRecord(bytes, { ...meta, owner: 43n, checksum }), { code: 'CORRUPT' });
  t.throws(() => decodeRecord(bytes, { ...meta, key: 8n, checksum }), { code: 'CORRUPT' });
  t.throws(() => decodeRecord(bytes.subarray(0, 60)), { code: 'CORRUPT' });
});

t.test('a framed payload is encoded in place: the same bytes as a copied one, sharing its memory', async (t) => {
  const meta = { kind: RecordKind.Data, owner: 7n, key: 9n, birth: 3n };
  const framed = framedBuffer(4096);
  for (let i = 0; i < framed.length; i++) framed[i] = (i * 31) & 255;
  const plain = Buffer.from(framed);
  const a = encodeRecord(meta, framed), b = encodeRecord(meta, plain);
  t.same(a.bytes, b.bytes, 'identical record bytes');
  t.equal(a.checksum, b.checksum, 'and checksum');
  t.equal(a.bytes.buffer, framed.buffer, 'the framed record is the payload\'s own memory (no copy)');
  t.not(b.bytes.buffer, plain.buffer, 'an ordinary payload is copied');
  t.same(decodeRecord(a.bytes, meta).payload, plain, 'and it decodes to the payload');
  t.equal(framedBuffer(64, true).every((x) => x === 0), true, 'zeroed on request');
});
