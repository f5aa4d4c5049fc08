/**
 * Pure helpers of a spread layout's fast read (spread-io.ts, spread-scatter.ts): checking that a role's stored units carry this generation's trailer, and
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

/** Copies what lies in the range of the data of role r's unit of stripe p.a + i (at `start` of src) to its place in out. */
export function placeUnit(out: Buffer, p: Placement, r: number, i: number, src: Buffer, start: number): void {
  const at = (p.a + i) * p.stripeData + r * p.unitBytes;
  const from = Math.max(p.off, at), to = Math.min(p.off + p.len, at + p.unitBytes);
  if (to > from) src.copy(out, from - p.off, start + from - at, start + to - at);
}

/** Copies the data of every unit in bufs (one per role of p.roles, stripes p.a..p.hi, stored back to back) that lies in the range to its place in out. */
export function placeRoles(out: Buffer, bufs: Buffer[], p: Placement): void {
  bufs.forEach((buf, j) => { for (let i = 0; i < p.hi - p.a; i++) placeUnit(out, p, p.roles[j], i, buf, i * p.unitStored); });
}
