/**
 * Sequential read-ahead of a spread layout. A record read touches two or three stripes, each a
 * separate read per data role; read front to back, ec:4+2 would make four small reads per record
 * where a single file makes one. When a read continues stripes read recently (the kernel's
 * read-ahead sends several windows at once, so "recently" rather than "last"), the layout reads
 * READ_AHEAD_STRIPES stripes of every data role at once and keeps the checked units here, by
 * stripe, for the reads that follow; random reads read only what they need and keep nothing.
 * Stripes never change once written (a segment is only rewritten as a new generation, which
 * drops what is kept of it), so a kept unit stays right.
 */
import { LIMITS } from '../limits.js';

/** Stripes per segment stay below this (a 4 MiB segment has at most 1024), so seg × SPAN + stripe is a unique key. */
const SPAN = 2 ** 20;

export class ReadAhead {
  /** Data units (by role) of kept stripes; insertion order is age. */
  private kept = new Map<number, Buffer[]>();
  private bySeg = new Map<number, Set<number>>();

  /** Data units [a, hi) of every role (indexed by role), when every stripe is kept. */
  get(seg: number, a: number, hi: number): Buffer[][] | null {
    const rows: Buffer[][] = [];
    for (let s = a; s < hi; s++) {
      const u = this.kept.get(seg * SPAN + s);
      if (!u) return null;
      rows.push(u);
    }
    return rows[0].map((_, r) => rows.map((u) => u[r]));
  }

  has(seg: number, stripe: number): boolean { return this.kept.has(seg * SPAN + stripe); }

  /** True when a read starting at stripe a continues stripes read recently. */
  sequential(seg: number, a: number): boolean { return this.has(seg, a) || this.has(seg, a - 1); }

  /** Keeps the units (by role, stripes from a) of a read-ahead. */
  keep(seg: number, a: number, units: Buffer[][]): void {
    let set = this.bySeg.get(seg);
    if (!set) { set = new Set(); this.bySeg.set(seg, set); }
    for (let i = 0; i < units[0].length; i++) {
      const key = seg * SPAN + a + i;
      this.kept.delete(key);
      this.kept.set(key, units.map((r) => r[i]));
      set.add(key);
    }
    while (this.kept.size > LIMITS.READ_AHEAD_KEPT_STRIPES) {
      const old = this.kept.keys().next().value as number;
      this.kept.delete(old);
      this.bySeg.get(Math.floor(old / SPAN))?.delete(old);
    }
  }

  /** A segment started again: nothing kept of it is right any more. */
  drop(seg: number): void {
    for (const key of this.bySeg.get(seg) ?? []) this.kept.delete(key);
    this.bySeg.delete(seg);
  }
}
