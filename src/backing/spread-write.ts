/**
 * What a spread layout writes for a run of whole stripes: one stored piece per role, each the
 * role's units with their checks (UNIT_CHECK bytes after every unit, spread-format.ts).
 *
 * - A data role (and every copy of mirror:N, whose "parity" rows are all 1) is written as a
 *   vector: each unit where it lies (a view into the log's records, spread-stripes.ts) followed
 *   by its check, from one buffer of checks. Its bytes are copied once, by the kernel.
 * - A parity role is coded (rs.ts encodeStripes, the whole run in windows) into a pooled piece
 *   where its units already sit between their checks, and written as one buffer.
 *
 * The units, the checks and the pieces are held until `release`, after every write returned.
 */
import { invariant } from '../limits.js';
import { UNIT_CHECK, writeCheck } from './spread-format.js';
import type { BufferPool } from './buffer-pool.js';
import type { SpreadLayout } from './spread.js';
import type { Stripe } from './spread-stripes.js';
import { writeParts, type Target } from './target.js';

export class RoleWrites {
  /** Parity role → its piece (units and checks as stored). */
  private parity = new Map<number, Buffer>();
  /** Data role → where its checks start in `checks`. */
  private checkAt = new Map<number, number>();
  private checks: Buffer | null = null;
  private taken: Buffer[] = [];

  constructor(private l: SpreadLayout, private pool: BufferPool, private seg: number, private gen: number, private run: Stripe[]) {}

  /** The data unit a role stores (its own, or the one it copies under mirror:N); -1 for a coded parity role. */
  private source(role: number): number {
    const { k } = this.l.label;
    return role < k ? role : k === 1 ? 0 : -1;
  }

  private take(n: number): Buffer {
    const b = this.pool.take(n);
    this.taken.push(b);
    return b.subarray(0, n);
  }

  /** Makes the pieces and checks of `roles` (a role listed twice, as degraded copies list theirs, is made once). */
  code(listed: number[]): void {
    const { run, seg, gen } = this;
    const roles = [...new Set(listed)];
    const { k, unitBytes: u } = this.l.label;
    const us = this.l.g.unitStored, R = run.length;
    const data = roles.filter((r) => this.source(r) >= 0);
    if (data.length) {
      this.checks = this.take(data.length * R * UNIT_CHECK);
      data.forEach((role, i) => {
        const at = i * R * UNIT_CHECK;
        this.checkAt.set(role, at);
        const src = this.source(role);
        run.forEach((s, j) => writeCheck(this.checks!, at + j * UNIT_CHECK, s.units[src], seg, s.stripe, role, gen));
      });
    }
    const parity = roles.filter((r) => this.source(r) < 0);
    if (!parity.length) return;
    const pieces = parity.map((role) => { const p = this.take(R * us); this.parity.set(role, p); return p; });
    this.l.rs.encodeStripes(run.map((s) => s.units), parity.map((r) => r - k), (j, i) => pieces[i].subarray(j * us, j * us + u));
    parity.forEach((role, i) => run.forEach((s, j) => {
      const p = pieces[i];
      writeCheck(p, j * us + u, p.subarray(j * us, j * us + u), seg, s.stripe, role, gen);
    }));
  }

  /** Writes role's piece (made by `code`) to t at `at`. */
  write(t: Target, at: number, role: number): Promise<void> {
    const piece = this.parity.get(role);
    if (piece) return t.write(at, piece);
    const c = this.checkAt.get(role);
    invariant(c !== undefined && this.checks !== null, 'a role is coded before it is written');
    const src = this.source(role), checks = this.checks;
    const iov: Buffer[] = [];
    this.run.forEach((s, j) => iov.push(s.units[src], checks.subarray(c + j * UNIT_CHECK, c + (j + 1) * UNIT_CHECK)));
    return writeParts(t, at, iov);
  }

  /** Gives the pooled buffers back (every write has returned). */
  release(): void {
    for (const b of this.taken) this.pool.give(b);
    this.taken = [];
  }
}
