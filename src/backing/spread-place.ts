/**
 * Pure helpers of a spread layout's fast read, shared by the event loop and the gather worker
 * (gather-worker.ts): checking that a role's stored units carry this generation's trailer, and
 * placing their data where it lies in the segment's bytes (stripe s, role r: at s × SW + r × u).
 */
import { unitPresent } from './spread-format.js';

/** What a read of stripes [a, hi) of `roles` copies where: the range [off, off+len) of the segment. */
export interface Placement { a: number; hi: number; stripeData: number; unitBytes: number; unitStored: number; off: number; len: number; roles: number[] }

/** True when each of the n stored units in buf (data then trailer, back to back) is there for generation gen. */
export function unitsPresent(buf: Buffer, n: number, unitBytes: number, unitStored: number, gen: number): boolean {
  for (let i = 0; i < n; i++) if (!unitPresent(buf, i * unitStored, unitBytes, gen)) return false;
  return true;
}

/** Copies the data of every unit in bufs (one per role of p.roles, stripes p.a..p.hi) that lies in the range to its place in out. */
export function placeRoles(out: Buffer, bufs: Buffer[], p: Placement): void {
  const { a, hi, stripeData: SW, unitBytes: u, unitStored: us, off, len } = p;
  bufs.forEach((buf, j) => {
    const r = p.roles[j];
    for (let i = 0; i < hi - a; i++) {
      const at = (a + i) * SW + r * u, from = Math.max(off, at), to = Math.min(off + len, at + u);
      if (to > from) buf.copy(out, from - off, i * us + from - at, i * us + to - at);
    }
  });
}
