// Cutting segment writes into stripes (backing/spread-stripes.ts): seeded writes of random lengths,
// each in random parts, against a byte model; whole units inside one part are views, not copies.
import t from 'tap';
import { cutStripes, unitsOf, type PendingStripe, type Stripe } from '../../src/backing/spread-stripes.js';
import { rng, seedFromEnv, splitRandomly } from '../helpers/mem.js';

const seed = seedFromEnv();
t.comment(`seed ${seed}`);

for (const [k, unit, segmentSize] of [[4, 4096, 256 * 1024], [3, 4096, 256 * 1024 + 4096], [1, 4096, 64 * 1024], [2, 512, 10_000]]) {
  t.test(`k=${k}, ${unit} B units, ${segmentSize} B segments`, async (t) => {
    const r = rng(seed + k * 7 + unit);
    const shape = { stripeData: k * unit, unit, segmentSize };
    const stripes = Math.ceil(segmentSize / shape.stripeData);
    let bad = 0, views = 0, copies = 0, order = 0, taken = 0, boundaries = 0;
    for (let round = 0; round < 20; round++) {
      const model = Buffer.alloc(stripes * shape.stripeData); // the last stripe zero-padded past the segment
      const pending = new Map<number, PendingStripe>();
      const got: Stripe[] = [];
      for (let off = 0; off < segmentSize;) {
        if (r() < 0.2) off = Math.ceil(off / shape.stripeData) * shape.stripeData; // a txg starts on a stripe
        if (off >= segmentSize) break;
        const len = Math.min(segmentSize - off, Math.floor(r() * 5 * shape.stripeData));
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i++) data[i] = 1 + Math.floor(r() * 255);
        data.copy(model, off);
        const parts = splitRandomly(data, r, 7);
        boundaries += parts.filter((p) => p.length).length - 1;
        const { full, joined } = cutStripes(shape, pending, 3, off, parts, (n) => { taken++; return Buffer.alloc(n); });
        for (const s of full) {
          for (const u of s.units) {
            if (parts.some((p) => p.buffer === u.buffer)) views++;
            else if (joined && u.buffer === joined.buffer) copies++;
          }
        }
        got.push(...full);
        off += len;
      }
      // what is still pending is written out padded, as a sync does
      for (const p of pending.values()) got.push(unitsOf(p, unit));
      got.forEach((s, i) => { if (i && s.stripe !== got[i - 1].stripe + 1) order++; });
      for (const s of got) {
        const want = model.subarray(s.stripe * shape.stripeData, (s.stripe + 1) * shape.stripeData);
        if (s.units.length !== k || !Buffer.concat(s.units).equals(want)) bad++;
      }
      // stripes skipped by a txg start were never completed by a write: they are the pending ones a sync writes
      const seen = new Set(got.map((s) => s.stripe));
      for (let s = 0; s < stripes; s++) if (!seen.has(s) && model.subarray(s * shape.stripeData, (s + 1) * shape.stripeData).some((b) => b)) bad++;
    }
    t.equal(bad, 0, `every stripe written holds the model's bytes (seed ${seed})`);
    t.equal(order, 0, 'stripes come out in order');
    t.ok(views > 0 && copies <= boundaries, `whole units are views into the parts, but for at most one per boundary between parts (${views} views, ${copies} joined, ${boundaries} boundaries)`);
    t.ok(taken > 0, 'units straddling parts are joined in a taken buffer');
  });
}

t.test('a write that completes a pending stripe and whole ones lists them in order, the pending one first', async (t) => {
  const shape = { stripeData: 8, unit: 4, segmentSize: 64 };
  const pending = new Map<number, PendingStripe>();
  const a = cutStripes(shape, pending, 0, 0, [Buffer.from('abcdef')], () => Buffer.alloc(64));
  t.same(a.full, [], 'six bytes of an eight-byte stripe wait');
  t.equal(pending.get(0)?.filled, 6);
  const b = cutStripes(shape, pending, 0, 6, [Buffer.from('gh'), Buffer.from('ijklmn'), Buffer.from('op')], () => Buffer.alloc(64));
  t.same(b.full.map((s) => [s.stripe, Buffer.concat(s.units).toString()]), [[0, 'abcdefgh'], [1, 'ijklmnop']]);
  t.equal(pending.size, 0, 'nothing left pending');
  t.ok(b.joined, 'the unit "mnop" straddles two parts and was joined');
});

t.test('a write of thousands of small parts (compressed records) joins in a buffer no larger than its units', async (t) => {
  const shape = { stripeData: 4 * 4096, unit: 4096, segmentSize: 4 << 20 };
  const r = rng(seed + 5);
  const parts = Array.from({ length: 20000 }, () => Buffer.alloc(100 + Math.floor(r() * 200), Math.floor(r() * 256)));
  const total = parts.reduce((n, p) => n + p.length, 0);
  let asked = 0;
  const { full } = cutStripes(shape, new Map(), 0, 0, parts, (n) => { asked = n; return Buffer.alloc(n); });
  t.ok(asked > 0 && asked <= (Math.ceil(total / 4096) + 1) * 4096, `asked for ${asked} bytes to join units of a ${total}-byte write`);
  t.same(Buffer.concat(full.flatMap((s) => s.units)), Buffer.concat(parts).subarray(0, full.length * shape.stripeData), 'the stripes hold the parts\' bytes');
});
