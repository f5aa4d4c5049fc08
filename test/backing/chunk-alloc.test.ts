// Chunk bands of a spread target: a band holds one kind of chunk (data roles, or parity and
// extra copies) however chunks are taken and given back, no chunk is out twice, freed chunks go
// first (lowest first, within their kind), and a reload from the chunks in use goes on keeping
// kinds apart (a band mixed by an older allocator stays readable and takes its first kind).
// On a layout: the data chunks of successive segments lie together on every target.
import t, { type Test } from 'tap';
import { ChunkAlloc, ChunkKind } from '../../src/backing/chunk-alloc.js';
import type { SpreadLayout } from '../../src/backing/spread.js';
import { makeLayout } from '../helpers/layouts.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const seed = seedFromEnv();
const B = 4;

/** Fails unless every band of the chunks out holds one kind. */
function oneKindPerBand(t: Test, out: Map<number, ChunkKind>, what: string): void {
  const kinds = new Map<number, Set<ChunkKind>>();
  for (const [c, k] of out) {
    const b = Math.floor(c / B);
    if (!kinds.has(b)) kinds.set(b, new Set());
    kinds.get(b)!.add(k);
  }
  const mixed = [...kinds].filter(([, s]) => s.size > 1).map(([b]) => b);
  t.same(mixed, [], `${what}: no band holds both kinds (seed ${seed})`);
}

t.test('bands keep one kind under random takes and gives, and across a reload', async (t) => {
  const r = rng(seed);
  let a = new ChunkAlloc(B);
  const out = new Map<number, ChunkKind>();
  let twice = 0;
  for (let step = 0; step < 4000; step++) {
    if (step === 2000) { a = new ChunkAlloc(B); a.rebuild(out); } // a remount in the middle
    if (out.size && r() < 0.4) {
      const c = [...out.keys()][Math.floor(r() * out.size)];
      out.delete(c);
      a.give(c);
    } else {
      const k = r() < 1 / 3 ? ChunkKind.Cold : ChunkKind.Hot;
      const c = a.take(k);
      if (out.has(c)) twice++;
      out.set(c, k);
    }
  }
  t.equal(twice, 0, `no chunk is handed out while it is out (seed ${seed})`);
  oneKindPerBand(t, out, 'after 4000 steps');
});

t.test('a segment at a time: data chunks lie together, freed ones come back lowest first', async (t) => {
  const a = new ChunkAlloc(B);
  // ec:4+2 on three targets, as one target sees it: two chunks a segment, a third of them parity
  const kinds = [ChunkKind.Hot, ChunkKind.Hot, ChunkKind.Cold, ChunkKind.Hot, ChunkKind.Cold, ChunkKind.Hot];
  const got = kinds.map((k) => a.take(k));
  t.same(got, [0, 1, 4, 2, 5, 3], 'data 0..3 in the first band, parity from the second');
  t.equal(a.take(ChunkKind.Hot), 8, 'a full data band: the next band past the parity one');
  a.give(1);
  a.give(4);
  t.equal(a.take(ChunkKind.Cold), 4, 'a freed parity chunk goes to parity');
  t.equal(a.take(ChunkKind.Hot), 1, 'a freed data chunk to data');
  for (const c of [0, 1, 2, 3]) a.give(c);
  t.equal(a.take(ChunkKind.Cold), 0, 'an emptied band takes either kind');
  t.equal(a.take(ChunkKind.Hot), 9, 'and is then of that kind only');
});

t.test('a reload of a band mixed by an older allocator takes the kind of its first chunk', async (t) => {
  const a = new ChunkAlloc(B);
  a.rebuild(new Map([[0, ChunkKind.Hot], [1, ChunkKind.Cold], [3, ChunkKind.Hot]]));
  t.equal(a.high, 4, 'the high-water mark is past the last chunk in use');
  t.equal(a.take(ChunkKind.Cold), 4, 'parity does not go into the data band');
  t.equal(a.take(ChunkKind.Hot), 2, 'data fills the hole there');
  t.equal(a.freeCount, 0, 'nothing else is free');
});

t.test('on an ec:4+2 layout over three targets, every target keeps its data chunks apart from the rest', async (t) => {
  const seg = 64 * 1024;
  const { layout } = await makeLayout('ec:4+2', 3, seg);
  t.teardown(() => layout.close());
  const l = layout as SpreadLayout;
  const band = ChunkAlloc.bandFor(l.g.chunkStored);
  const n = Math.min(3 * band, 200); // segments enough to fill bands of both kinds on every target
  for (let s = 0; s < n; s++) await layout.writeSeg(s, 0, Buffer.alloc(seg, s & 0xff));
  await layout.sync();
  const bandKinds = new Map<string, Set<boolean>>();
  for (let s = 0; s < n; s++) {
    for (const ref of l.table.get(s)!.refs) {
      const key = `${ref.target}/${Math.floor(ref.chunk / band)}`;
      if (!bandKinds.has(key)) bandKinds.set(key, new Set());
      bandKinds.get(key)!.add(ref.role < 4);
    }
  }
  t.same([...bandKinds].filter(([, k]) => k.size > 1).map(([b]) => b), [], 'no target band holds data and parity');
  const back = await layout.readSeg(n - 1, 0, seg);
  t.ok(back.equals(Buffer.alloc(seg, (n - 1) & 0xff)), 'and what was written reads back');
});
