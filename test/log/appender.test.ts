// The appender's direct path: records staged into aligned buffers land where their pointers say,
// every direct write is aligned (EmulatedDirect checks), the padding past an extent's end is
// zeros and stops at the next DIRECT_ALIGN boundary, a missing staging buffer falls back to
// buffered writes within the same extent, and ready() bounds the writes in flight.
import t from 'tap';
import { Appender } from '../../src/log/appender.js';
import { SegmentSpace } from '../../src/log/space.js';
import { SingleLayout } from '../../src/backing/layout.js';
import { MemTarget } from '../../src/backing/target.js';
import { encodeRecord, RecordKind } from '../../src/codec/record.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { LIMITS } from '../../src/limits.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const SEG = 8 * 1024 * 1024, SEGS = 8, A = LIMITS.DIRECT_ALIGN;
const seed = seedFromEnv();
const base = (seg: number) => LIMITS.HEADER_REGION + seg * SEG;

/** A target whose segment area starts as 0xee everywhere, so bytes written are told from bytes left alone. */
async function fresh(): Promise<{ target: MemTarget; layout: SingleLayout; space: SegmentSpace }> {
  await initChecksum();
  const target = new MemTarget({ direct: true });
  await target.write(0, Buffer.alloc(base(SEGS), 0xee));
  const space = new SegmentSpace(1, SEG);
  return { target, layout: new SingleLayout(target, SEG), space };
}

function records(r: () => number, n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => encodeRecord({ kind: RecordKind.Data, owner: 1n, key: BigInt(i), birth: 1n },
    Buffer.alloc(1 + Math.floor(r() * 40000), i & 255)).bytes);
}

async function appendAll(app: Appender, recs: Buffer[], between?: () => Promise<void>) {
  const ptrs = [];
  for (const [i, bytes] of recs.entries()) {
    if (between) await between();
    ptrs.push(app.append({ kind: RecordKind.Data, owner: 1n, key: BigInt(i), birth: 1n }, { bytes, checksum: 0n }));
  }
  await app.finish();
  return ptrs;
}

t.test('staged records land where their pointers say; padding is zeros up to the next aligned offset only', async (t) => {
  const { target, layout, space } = await fresh();
  const recs = records(rng(seed), 1200);
  const app = new Appender(layout, space, 1n, 0, 5000, layout.direct ?? null); // a txg continuing in segment 0 at an unaligned end
  const ptrs = await appendAll(app, recs);
  t.ok(target.direct!.writes > 3, `direct writes (${target.direct!.writes})`);
  for (const [i, p] of ptrs.entries()) {
    if (!(await target.read(base(p.seg) + p.off, p.len)).equals(recs[i])) { t.fail(`record ${i} (seed ${seed})`); return; }
  }
  t.pass(`every record reads back at its pointer (seed ${seed})`);
  t.equal(app.extents[0].start, Math.ceil(5000 / LIMITS.TXG_ALIGN) * LIMITS.TXG_ALIGN, 'the txg starts on TXG_ALIGN');
  t.same(await target.read(base(0), app.extents[0].start), Buffer.alloc(app.extents[0].start, 0xee), 'nothing before the txg start is touched');
  for (const e of app.extents) {
    const padEnd = Math.ceil(e.end / A) * A;
    t.same(await target.read(base(e.seg) + e.end, padEnd - e.end), Buffer.alloc(padEnd - e.end), `segment ${e.seg}: padding to ${padEnd} is zeros`);
    if (padEnd < SEG) t.equal((await target.read(base(e.seg) + padEnd, 1))[0], 0xee, `segment ${e.seg}: nothing past the aligned end`);
  }
});

t.test('with no staging buffer to be had, the rest of an extent is written buffered', async (t) => {
  const { target, layout, space } = await fresh();
  const d = target.direct!, take = d.take.bind(d);
  let takes = 0;
  d.take = () => (++takes === 3 ? null : take()); // the third buffer cannot be had
  const recs = records(rng(seed + 1), 1200);
  const app = new Appender(layout, space, 1n, 0, 0, layout.direct ?? null);
  const ptrs = await appendAll(app, recs);
  for (const [i, p] of ptrs.entries()) {
    if (!(await target.read(base(p.seg) + p.off, p.len)).equals(recs[i])) { t.fail(`record ${i} (seed ${seed})`); return; }
  }
  t.pass(`every record reads back, direct and buffered parts alike (seed ${seed})`);
  t.ok(takes > 3, 'later extents stage again');
});

t.test('ready() holds a commit back while the staging pool is all in flight', async (t) => {
  const { target, layout, space } = await fresh();
  const d = target.direct!, write = d.write.bind(d);
  let inFlight = 0, most = 0;
  const gates: (() => void)[] = [];
  d.write = async (off, b, len) => {
    inFlight++; most = Math.max(most, inFlight);
    await new Promise<void>((r) => gates.push(r));
    inFlight--;
    return write(off, b, len);
  };
  const releaser = setInterval(() => gates.shift()?.(), 1);
  t.teardown(() => clearInterval(releaser));
  const app = new Appender(layout, space, 1n, 0, 0, layout.direct ?? null);
  await appendAll(app, records(rng(seed + 2), 4000), () => app.ready());
  const cap = LIMITS.DIRECT_POOL_BYTES / LIMITS.WRITE_CHUNK_BYTES;
  t.ok(most <= cap + 2, `at most ${most} direct writes in flight (pool: ${cap}; an append may start two)`);
  t.ok(most >= 2, 'writes overlap');
});
