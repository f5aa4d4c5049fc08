// Partly written blocks: written ranges and gap filling against a byte-mask model (seeded), and
// a partial write onto a stored block that is damaged.
import t from 'tap';
import { cover, covers, fillGaps, newPartial, subsWritten, whole } from '../../src/fs/partial.js';
import { memDatastore, rng, ROOT, seedFromEnv, SMALL } from '../helpers/mem.js';
import { decodePtr } from '../../src/format/ptr.js';
import { keyOfBlock } from '../../src/txn/commit.js';
import { LIMITS } from '../../src/limits.js';
import { RECORD_HEADER } from '../../src/codec/record.js';

const SEED = seedFromEnv();
t.comment(`seed ${SEED} (set SEED to repeat)`);

t.test('written sub-blocks: only ranges on sub-block boundaries count', async (t) => {
  const p = newPartial();
  cover(p, 4096, 8192); cover(p, 16384, 24576);
  t.same(subsWritten(p, 4096), [1, 4, 5]);
  t.ok(covers(p, 4100, 8192) && !covers(p, 8000, 8200));
  cover(p, 30000, 30001);
  t.equal(subsWritten(p, 4096), null, 'an unaligned range: none');
  t.equal(subsWritten(newPartial(), 4096), null, 'nothing written: none');
});

t.test('ranges merge; gaps take the base (or zeros past it); written bytes stay', async (t) => {
  const r = rng(SEED);
  let bad = 0;
  for (let round = 0; round < 3000; round++) {
    const size = 64 + Math.floor(r() * 200);
    const p = newPartial();
    const mask = new Uint8Array(size);
    const block = Buffer.alloc(size, 0xee);
    for (let k = 0, n = Math.floor(r() * 6); k < n; k++) {
      const from = Math.floor(r() * size), to = Math.min(size, from + Math.floor(r() * 80));
      cover(p, from, to);
      mask.fill(1, from, to);
      block.fill(0x11, from, to);
    }
    const sorted = p.ranges.every(([a, b], i) => a < b && (i === 0 || p.ranges[i - 1][1] < a));
    const base = r() < 0.2 ? null : Buffer.alloc(Math.floor(r() * size * 1.2), 0x55);
    fillGaps(block, p, base);
    let right = sorted && whole(p, size) === mask.every((x) => x === 1);
    for (let i = 0; i < size && right; i++) {
      const want = mask[i] ? 0x11 : base && i < base.length ? 0x55 : 0;
      if (block[i] !== want) right = false;
    }
    if (!right) { bad++; if (bad < 4) t.fail(`round ${round}: ${JSON.stringify(p.ranges)}`); }
  }
  t.equal(bad, 0, `3000 blocks, seed ${SEED}`);
});

t.test('a partial write onto a damaged block: the commit keeps the written bytes, zeros the rest, raises an alarm', async (t) => {
  const { target, fs } = await memDatastore();
  const fh = fs.addHandle(await fs.create('/d.raw', 0o644, ROOT));
  await fs.write(fh, 0, Buffer.alloc(4096, 0x11));
  await fs.txg.sync();
  const v = await fs.resolve('/d.raw');
  const p = decodePtr((await v.map.get(keyOfBlock(0), v.map.root))!);
  target.bytes[LIMITS.HEADER_REGION + p.seg * SMALL.segmentSize + p.off + RECORD_HEADER + 10] ^= 0xff;
  await fs.write(fh, 200, Buffer.alloc(100, 0x22));
  await fs.txg.sync();
  t.equal(fs.alarms.count, 1, 'one alarm');
  t.match(fs.alarms.recent[0].reason, /damaged block/);
  const want = Buffer.alloc(4096); want.fill(0x22, 200, 300);
  t.ok((await fs.read(fh, 0, 4096)).equals(want), 'written bytes kept, the rest zeros');
  fs.release(fh);
});
