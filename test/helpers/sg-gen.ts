/** Generated scatter-gather arrays for the write-path tests. */
import type { SgElement } from '../../src/txn/sg.js';

const BS = 4096;

/** The byte-array model: the array's elements written in arrival order over `model`. */
export function applyToModel(model: Buffer, array: readonly SgElement[]): Buffer {
  const end = Math.max(model.length, ...array.filter((e) => e.data.length).map((e) => e.off + e.data.length));
  const next = Buffer.alloc(end);
  model.copy(next);
  for (const e of array) e.data.copy(next, e.off);
  return next;
}

/** A random array: offsets cluster on a few blocks so overlaps and duplicates are common. */
export function genArray(r: () => number, maxBlocks: number): SgElement[] {
  const n = 1 + Math.floor(r() * 12);
  const out: SgElement[] = [];
  for (let i = 0; i < n; i++) {
    const kind = r();
    let off: number, len: number;
    if (kind < 0.1 && out.length) ({ off, data: { length: len } } = out[Math.floor(r() * out.length)]); // duplicate range
    else if (kind < 0.2) { off = Math.floor(r() * maxBlocks) * BS; len = BS * (1 + Math.floor(r() * 2)); } // whole blocks
    else if (kind < 0.3) { off = Math.floor(r() * maxBlocks * BS); len = 0; } // zero length
    else { off = Math.floor(r() * maxBlocks * BS); len = 1 + Math.floor(r() * BS * 1.5); } // partial, may straddle
    const data = Buffer.alloc(len);
    for (let j = 0; j < len; j++) data[j] = 1 + Math.floor(r() * 255);
    out.push({ off, data });
  }
  return out;
}

