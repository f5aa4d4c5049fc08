// Reed-Solomon over GF(2^8): parity from data, and every data fragment back from any k of k+m.
import t from 'tap';
import { combine, combineStripes, gfKernel, gfMul, invert, ReedSolomon } from '../../src/backing/rs.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const seed = seedFromEnv();
t.comment(`seed ${seed}`);

t.test('field: multiplication has inverses and distributes', async (t) => {
  let bad = 0;
  for (let a = 1; a < 256; a++) {
    const inv = invert([[a]])![0][0];
    if (gfMul(a, inv) !== 1) bad++;
    for (const b of [3, 29, 200]) if (gfMul(a, b ^ 77) !== (gfMul(a, b) ^ gfMul(a, 77))) bad++;
  }
  t.equal(bad, 0);
  t.equal(invert([[1, 1], [1, 1]]), null, 'a singular matrix has no inverse');
});

/** Every subset of `size` indices of 0..n-1. */
function* subsets(n: number, size: number, from = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === size) { yield acc; return; }
  for (let i = from; i < n; i++) yield* subsets(n, size, i + 1, [...acc, i]);
}

for (const [k, m] of [[1, 1], [1, 2], [2, 1], [3, 2], [4, 2], [6, 3], [10, 4]]) {
  t.test(`${k}+${m}: any ${k} of ${k + m} fragments give the data back`, async (t) => {
    const r = rng(seed + k * 31 + m);
    const len = 1000;
    const data = Array.from({ length: k }, () => Uint8Array.from({ length: len }, () => Math.floor(r() * 256)));
    const parity = Array.from({ length: m }, () => new Uint8Array(len));
    const rs = new ReedSolomon(k, m);
    rs.encode(data, parity);
    if (k === 1) t.ok(parity.every((p) => Buffer.from(p).equals(Buffer.from(data[0]))), 'k = 1: parity fragments are copies');
    const odd = data.map((d) => { const b = new Uint8Array(len + 1); b.set(d, 1); return b.subarray(1); });
    const oddParity = Array.from({ length: m }, () => new Uint8Array(len + 1).subarray(1));
    rs.encode(odd, oddParity);
    t.ok(oddParity.every((p, i) => Buffer.from(p).equals(Buffer.from(parity[i]))), 'unaligned buffers (byte by byte) code the same as aligned ones (a word at a time)');
    const all = [...data, ...parity];
    let tried = 0, bad = 0;
    for (const keep of subsets(k + m, k)) {
      const frags = all.map((f, i) => (keep.includes(i) ? f : null));
      if (!rs.reconstructAll(frags, len)) { bad++; continue; }
      tried++;
      if (!frags.every((f, i) => Buffer.from(f!).equals(Buffer.from(all[i])))) bad++;
    }
    t.equal(bad, 0, `${tried} subsets rebuilt every fragment (seed ${seed})`);
    const few = all.map((f, i) => (i < k - 1 ? f : null));
    t.notOk(rs.reconstructAll(few, len), `${k - 1} fragments are not enough`);
  });
}

t.test('the SIMD kernel loads on Node 20 and codes exactly as the tables do', async (t) => {
  t.equal(gfKernel(), 'wasm-simd', 'WebAssembly SIMD validated and instantiated');
  const r = rng(seed + 7);
  let bad = 0;
  for (const len of [1, 15, 16, 17, 1000, 4096, 4099]) {
    const srcs = Array.from({ length: 3 }, () => Uint8Array.from({ length: len }, () => Math.floor(r() * 256)));
    for (let c = 0; c < 256; c += len > 1000 ? 17 : 1) {
      const rows = [[c, 1, 255 - c], [0, c, c ^ 0x5a]];
      const want = rows.map(() => new Uint8Array(len)), got = rows.map(() => new Uint8Array(len));
      combine(rows, srcs, want, null);
      combine(rows, srcs, got);
      if (!got.every((g, j) => Buffer.from(g).equals(Buffer.from(want[j])))) bad++;
    }
  }
  t.equal(bad, 0, `every coefficient and length agrees (seed ${seed})`);
});

t.test('many stripes coded at once equal each stripe coded alone (windows, odd lengths, both kernels)', async (t) => {
  const r = rng(seed + 11);
  const rs = new ReedSolomon(4, 2);
  let bad = 0, runs = 0;
  for (const len of [4096, 100, 16]) {
    for (const n of [1, 7, 8, 9, 40]) {
      const units = Array.from({ length: n }, () => Array.from({ length: 4 }, () => Uint8Array.from({ length: len }, () => Math.floor(r() * 256))));
      const want = units.map((u) => [new Uint8Array(len), new Uint8Array(len)]);
      units.forEach((u, j) => rs.encode(u, want[j]));
      for (const simd of [undefined, null]) {
        const got = units.map(() => [new Uint8Array(len + 3).subarray(3), new Uint8Array(len)]);
        const rows = [rs.parityRows[1], rs.parityRows[0]]; // roles in another order
        combineStripes(rows, units, (j, i) => got[j][i], simd as null | undefined);
        if (!got.every((g, j) => Buffer.from(g[0]).equals(Buffer.from(want[j][1])) && Buffer.from(g[1]).equals(Buffer.from(want[j][0])))) bad++;
        runs++;
      }
    }
  }
  t.equal(bad, 0, `${runs} runs of 1 to 40 stripes agree (seed ${seed})`);
});
