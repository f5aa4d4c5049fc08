import t from 'tap';
import { initChecksum } from '../../src/codec/checksum.js';
import { encodeRecord, framedBuffer, RecordKind } from '../../src/codec/record.js';
import { compareKeys, decodeNode, encodeNode } from '../../src/meta/node-codec.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const SEED = seedFromEnv();
t.comment(`seed ${SEED} (SEED=${SEED} repeats this run)`);
const rand = rng(SEED);
await initChecksum();

t.test('compareKeys orders keys as Buffer.compare does, short and long', async (t) => {
  // Few distinct byte values and shared prefixes, so equal keys and prefixes come up often.
  const key = () => {
    const len = Math.floor(rand() * 40), b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = rand() < 0.7 ? 0 : [1, 0x7f, 0x80, 0xff][Math.floor(rand() * 4)];
    return b;
  };
  let wrong = 0, equal = 0;
  for (let i = 0; i < 20000; i++) {
    const a = key(), b = rand() < 0.2 ? Buffer.from(a) : key();
    const c = compareKeys(a, b);
    if (c !== Buffer.compare(a, b)) wrong++;
    if (c === 0) equal++;
  }
  t.equal(wrong, 0, `seed ${SEED}`);
  t.ok(equal > 1000, 'equal keys were compared too');
});

t.test('encodeNode round-trips keys and values of every length class, into any buffer of its size', async (t) => {
  const bytes = (len: number) => Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
  const lens = [0, 1, 8, 31, 32, 33, 100, 200];
  const keys = lens.map((l, i) => Buffer.concat([Buffer.from([i]), bytes(l)]));
  const vals = lens.map((l) => bytes(l)).reverse();
  const img = { leaf: true, level: 0, keys, vals, kids: [] };
  const plain = encodeNode(img);
  const back = decodeNode(plain);
  t.same(back.keys.map((k) => k.toString('hex')), keys.map((k) => k.toString('hex')), `keys, seed ${SEED}`);
  t.same(back.vals.map((v) => v.toString('hex')), vals.map((v) => v.toString('hex')), `values, seed ${SEED}`);
  const framed = encodeNode(img, framedBuffer);
  t.ok(framed.equals(plain), 'the same bytes in a framed buffer');
  const rec = encodeRecord({ kind: RecordKind.Node, owner: 1n, key: 0n, birth: 1n }, framed);
  t.equal(rec.bytes.buffer, framed.buffer, 'the record is framed in place, not copied');
  t.throws(() => encodeNode(img, (len) => Buffer.alloc(len + 1)), /buffer of its size/);
});
