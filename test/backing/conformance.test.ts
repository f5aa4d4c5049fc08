// Every layout behind the one Layout interface: the same appends, reads, header writes, reopen
// and a whole datastore on top, against a byte model.
import t, { type Test } from 'tap';
import { LAYOUTS, layoutDatastore, makeLayout, writeNew } from '../helpers/layouts.js';
import { MiB, readWhole, rng, seedFromEnv, splitRandomly } from '../helpers/mem.js';
import { Datastore } from '../../src/txn/datastore.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import type { Layout } from '../../src/backing/layout.js';

const SEG = 256 * 1024;
const seed = seedFromEnv();
t.comment(`seed ${seed}`);

/** A segment's expected bytes and which of them the current incarnation wrote (gaps are undefined). */
interface Seg { bytes: Buffer; set: Buffer }

/** Appends like the log does (in parts where the layout takes them): each txg starts on appendAlign, several writes per txg, a sync after. */
async function appendRounds(l: Layout, model: Map<number, Seg>, r: () => number, segs: number[]): Promise<void> {
  for (const seg of segs) {
    const m = Buffer.alloc(SEG), set = Buffer.alloc(SEG);
    model.set(seg, { bytes: m, set });
    let off = 0;
    while (off < SEG) {
      off = Math.ceil(off / l.appendAlign) * l.appendAlign;
      if (off >= SEG) break;
      const txgEnd = Math.min(SEG, off + 1 + Math.floor(r() * 96 * 1024));
      while (off < txgEnd) {
        const len = Math.min(txgEnd - off, 1 + Math.floor(r() * 40 * 1024));
        const data = Buffer.alloc(len);
        for (let i = 0; i < len; i += 997) data[i] = Math.floor(r() * 256);
        data.copy(m, off); set.fill(1, off, off + len);
        if (l.writeSegv && r() < 0.5) await l.writeSegv(seg, off, splitRandomly(data, r, 5));
        else await l.writeSeg(seg, off, data);
        off += len;
      }
      await l.sync();
    }
  }
}

/** True when `got` (read at off, asked for len bytes) equals the model wherever the model is defined. */
function same(got: Buffer, m: Seg, off: number, len: number): boolean {
  if (got.length !== len) return false;
  for (let i = 0; i < got.length; i++) if (m.set[off + i] && got[i] !== m.bytes[off + i]) return false;
  return true;
}

async function checkReads(t: Test, l: Layout, model: Map<number, Seg>, r: () => number, what: string): Promise<void> {
  let bad = 0;
  for (let i = 0; i < 200; i++) {
    const seg = [...model.keys()][Math.floor(r() * model.size)];
    const off = Math.floor(r() * SEG), len = Math.min(SEG - off, 1 + Math.floor(r() * 70 * 1024));
    if (!same(await l.readSeg(seg, off, len), model.get(seg)!, off, len)) bad++;
  }
  for (const [seg, m] of model) if (!same(await l.readSeg(seg, 0, SEG), m, 0, SEG)) bad++;
  // front to back in record-sized reads, as a file is read (the spread layouts' read-ahead serves most)
  for (const [seg, m] of model) {
    for (let off = 0; off < SEG;) {
      const len = Math.min(SEG - off, 1 + Math.floor(r() * 40 * 1024));
      if (!same(await l.readSeg(seg, off, len), m, off, len)) bad++;
      off += len;
    }
  }
  t.equal(bad, 0, `${what}: every read equals the model (seed ${seed})`);
}

for (const [spec, n] of LAYOUTS) {
  t.test(`${spec} on ${n}: appends, reads, header, reopen, restart of a segment`, async (t) => {
    const r = rng(seed);
    const made = await makeLayout(spec, n, SEG);
    let l = made.layout;
    const k = Number(/^ec:(\d+)/.exec(spec)?.[1] ?? 1);
    t.equal(l.appendAlign, k * 4096, 'txgs start on a stripe (k units of 4 KiB; TXG_ALIGN for single and mirrors)');
    const model = new Map<number, Seg>();
    await appendRounds(l, model, r, [0, 1, 2, 5]);
    const hdr = Buffer.alloc(8192, 7); hdr.write('header', 0);
    await l.writeHeader(4096, hdr);
    await l.sync();
    await checkReads(t, l, model, r, 'before reopen');
    t.same(await l.readHeader(4096, 8192), hdr, 'header reads back');
    t.same(await l.readSeg(9, 0, 100), Buffer.alloc(100), 'a segment never written reads as zeros');
    await l.close();
    l = await made.reopen();
    await checkReads(t, l, model, r, 'after reopen');
    t.same(await l.readHeader(4096, 8192), hdr, 'header after reopen');
    await appendRounds(l, model, r, [1, 3]);
    await checkReads(t, l, model, r, 'segment 1 started again, segment 3 new');
    t.equal(l.status().state, 'OK');
    await l.close();
  });

  t.test(`${spec} on ${n}: a datastore on top survives reopen`, async (t) => {
    const r = rng(seed + 1);
    const made = await layoutDatastore(spec, n, MiB);
    const model = new Map<string, Buffer>();
    for (let f = 0; f < 4; f++) {
      const writes = Array.from({ length: 20 }, (): [number, Buffer] => [Math.floor(r() * 300_000), Buffer.alloc(1 + Math.floor(r() * 20000), Math.floor(r() * 255) + 1)]);
      model.set(`/f${f}`, await writeNew(made.fs, `/f${f}`, writes));
    }
    await made.fs.close();
    await made.ds.close();
    const ds = await Datastore.open(await made.reopen());
    const fs = new Filesystem(ds);
    let bad = 0;
    for (const [p, m] of model) if (!(await readWhole(fs, p)).equals(m)) bad++;
    t.equal(bad, 0, `every file reads what was written, after reopen (seed ${seed})`);
    await ds.close();
  });
}
