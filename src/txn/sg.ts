/**
 * Scatter-gather grouping, the first two steps of the write path. The write requests gathered
 * for one file form a scatter-gather array of elements (offset, bytes) in arrival order; the
 * array is cut at block boundaries and sorted into sets, one per file block, each holding its
 * pieces in arrival order (so where two requests overlap, the later one wins). Pure functions.
 */
import { invariant } from '../limits.js';

export interface SgElement { off: number; data: Buffer }

/** The part of one element that falls in one block. */
export interface SgPiece {
  at: number;     // byte offset inside the block
  bytes: Buffer;  // a view of the element's data
  elem: number;   // index of the element in the array (its arrival order)
}

export interface SgSet { lbn: number; pieces: SgPiece[] }

/** Cuts every element at block boundaries and groups the pieces by block, blocks ascending. */
export function sortIntoSets(array: readonly SgElement[], blockSize: number): SgSet[] {
  const byBlock = new Map<number, SgPiece[]>();
  array.forEach((e, elem) => {
    invariant(e.off >= 0 && Number.isSafeInteger(e.off), 'element offset is a non-negative integer');
    const end = e.off + e.data.length;
    for (let pos = e.off; pos < end;) {
      const lbn = Math.floor(pos / blockSize);
      const to = Math.min(end, (lbn + 1) * blockSize);
      const piece = { at: pos - lbn * blockSize, bytes: e.data.subarray(pos - e.off, to - e.off), elem };
      const list = byBlock.get(lbn);
      if (list) list.push(piece); else byBlock.set(lbn, [piece]);
      pos = to;
    }
  });
  return [...byBlock.keys()].sort((a, b) => a - b).map((lbn) => ({ lbn, pieces: byBlock.get(lbn)! }));
}

/** True when the pieces together cover the whole block. */
export function coversBlock(pieces: readonly SgPiece[], blockSize: number): boolean {
  const spans = pieces.map((p) => [p.at, p.at + p.bytes.length] as const).sort((a, b) => a[0] - b[0]);
  let reach = 0;
  for (const [from, to] of spans) {
    if (from > reach) return false;
    reach = Math.max(reach, to);
  }
  return reach >= blockSize;
}

/** Overlays the pieces on a block in arrival order. */
export function overlay(block: Buffer, pieces: readonly SgPiece[]): void {
  for (const p of pieces) p.bytes.copy(block, p.at);
}
