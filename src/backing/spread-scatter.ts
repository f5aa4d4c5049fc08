/**
 * A spread layout's large fast reads, scattered in place: one vectored read per role from its
 * target (Target.readScatter), whose buffers put each unit's data straight where it lies in the
 * read's output (stripe s, role r: at s × SW + r × u) and its 16-byte trailer into a buffer of
 * trailers, checked once the reads are back. The data is copied once, by the kernel: no role
 * buffer, no copy per 4 KiB unit, no message to a worker. A unit only partly inside the range
 * is read into a spare unit and its part copied.
 */
import { trailerPresent, UNIT_CHECK } from './spread-format.js';
import { placeUnit, type Placement } from './spread-place.js';
import type { Target } from './target.js';

/** Where a role's units for the read are stored: n bytes (units with their trailers) at `at` of target. */
export interface ScatterSource { target: Target; at: number; n: number }

/**
 * The range p describes, read from `sources` (one per role of p.roles, each a read stream of
 * its own) into out (p.len bytes); 'absent' when a unit is not there for generation gen or a
 * read failed (the caller reads verified, which rebuilds and reports).
 */
export async function scatterRead(sources: ScatterSource[], gen: number, p: Placement, out: Buffer): Promise<Buffer | 'absent'> {
  const n = p.hi - p.a, u = p.unitBytes;
  const trailers = Buffer.allocUnsafe(sources.length * n * UNIT_CHECK);
  const partial: { j: number; i: number; unit: Buffer }[] = [];
  const reads = sources.map((s, j) => {
    const r = p.roles[j], bufs: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const at = (p.a + i) * p.stripeData + r * u;
      if (at >= p.off && at + u <= p.off + p.len) bufs.push(out.subarray(at - p.off, at - p.off + u));
      else { const unit = Buffer.allocUnsafe(u); partial.push({ j, i, unit }); bufs.push(unit); }
      const t = (j * n + i) * UNIT_CHECK;
      bufs.push(trailers.subarray(t, t + UNIT_CHECK));
    }
    return s.target.readScatter!(s.at, bufs, r);
  });
  const got = await Promise.allSettled(reads);
  if (got.some((g) => g.status === 'rejected')) return 'absent';
  for (let t = 0; t < trailers.length; t += UNIT_CHECK) if (!trailerPresent(trailers, t, gen)) return 'absent';
  for (const { j, i, unit } of partial) placeUnit(out, p, p.roles[j], i, unit, 0);
  out.fill(0, Math.max(0, Math.min(p.len, p.hi * p.stripeData - p.off)));
  return out;
}
