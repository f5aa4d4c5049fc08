/**
 * A partly written dirty block: a write into a block that is not dirty yet takes no read of the
 * stored block. The new bytes go into a fresh block at once, their byte ranges are kept, and the
 * rest is copied in from the block as stored when the block is first needed whole — by a read,
 * a truncation, or the commit, which fills all of a txg's partly written blocks at once (their
 * reads go out together instead of one per write, and none is on a write's way) — unless the
 * commit stores its written sub-blocks as records of their own (format/map-value.ts), when the
 * rest is never read. Pure functions.
 */

/** The written byte ranges [from, to) of a block, sorted and merged; `filling` while the rest is being fetched. */
export interface Partial { ranges: [number, number][]; filling?: Promise<void> }

export const newPartial = (): Partial => ({ ranges: [] });

/** Adds [from, to) to the written ranges. */
export function cover(p: Partial, from: number, to: number): void {
  if (to <= from) return;
  const out: [number, number][] = [];
  let placed = false;
  for (const [a, b] of p.ranges) {
    if (b < from) out.push([a, b]);
    else if (a > to) {
      if (!placed) { out.push([from, to]); placed = true; }
      out.push([a, b]);
    } else { from = Math.min(from, a); to = Math.max(to, b); }
  }
  if (!placed) out.push([from, to]);
  p.ranges = out;
}

/** True when the written ranges cover [0, size). */
export const whole = (p: Partial, size: number): boolean => p.ranges.length === 1 && p.ranges[0][0] === 0 && p.ranges[0][1] >= size;

/** Copies `base` (null: zeros) into the bytes of `block` outside the written ranges. */
export function fillGaps(block: Buffer, p: Partial, base: Buffer | null): void {
  let at = 0;
  const gap = (from: number, to: number) => {
    if (to <= from) return;
    const copied = base && from < base.length ? base.copy(block, from, from, Math.min(to, base.length)) : 0;
    if (from + copied < to) block.fill(0, from + copied, to);
  };
  for (const [a, b] of p.ranges) { gap(at, a); at = b; }
  gap(at, block.length);
}

/** True when one written range holds all of [from, to) (a read of it needs nothing from the stored block). */
export const covers = (p: Partial, from: number, to: number): boolean => p.ranges.some(([a, b]) => a <= from && b >= to);

/**
 * The sub-blocks the written ranges cover when they cover whole sub-blocks only (every range
 * starts and ends on a sub-block boundary), in increasing order; null otherwise. Such a block can
 * be stored as sub-block records over the stored one instead of being filled in.
 */
export function subsWritten(p: Partial, sub: number): number[] | null {
  const out: number[] = [];
  for (const [a, b] of p.ranges) {
    if (a % sub || b % sub) return null;
    for (let i = a / sub; i < b / sub; i++) out.push(i);
  }
  return out.length ? out : null;
}
