/**
 * A spread layout's verified reads: every unit's hash checked, missing or bad units taken from
 * other copies or rebuilt from any k roles (Reed-Solomon), and each unit that failed its check
 * on a target that answers written back right (read repair). The fast reads (trailers only)
 * are in spread-io.ts, which falls back to these.
 */
import { VdfsError } from '../errors.js';
import { Entry, holds, Mode, Ref, unitHolds, writeUnit } from './spread-format.js';
import type { SpreadLayout } from './spread.js';

interface Bad { ref: Ref; stripe: number }
type Counters = { reconstructed: number; repaired: number; unrecoverable: number };

export class VerifiedReads {
  constructor(private l: SpreadLayout, private counters: Counters, private track: (p: Promise<void>) => Promise<void>) {}

  /**
   * Units of `roles` for stripes [a, b): from their own chunks, else from other copies, else
   * rebuilt from any k roles. Units that failed their check on a target that answers are written
   * back. Throws CHECKSUM when a stripe has fewer than k good units.
   */
  async gather(seg: number, e: Entry, a: number, b: number, roles: number[], repair = true): Promise<Buffer[][]> {
    const l = this.l;
    const { k, m, unitBytes: u } = l.label;
    const bad: Bad[] = [];
    const got = new Map<number, (Buffer | null)[]>();
    await Promise.all(roles.map(async (r) => { got.set(r, await this.fetch(seg, e, r, a, b, bad)); }));
    const holes: number[] = [];
    for (let i = 0; i < b - a; i++) if (roles.some((r) => !got.get(r)![i])) holes.push(i);
    if (holes.length) {
      const lo = holes[0], hi = holes[holes.length - 1] + 1;
      if (e.mode === Mode.Ec) {
        await Promise.all(Array.from({ length: k + m }, (_, r) => r).filter((r) => !got.has(r)).map(async (r) => {
          const part = await this.fetch(seg, e, r, a + lo, a + hi, bad);
          got.set(r, [...new Array<null>(lo).fill(null), ...part, ...new Array<null>(b - a - hi).fill(null)]);
        }));
      }
      for (const i of holes) {
        const frags = Array.from({ length: k + m }, (_, r) => got.get(r)?.[i] ?? null);
        if (e.mode !== Mode.Ec || !l.rs.reconstructAll(frags, u)) {
          const s = a + i;
          if (e.refs.some((r) => !l.usable(r.target) || !holds(r, s))) {
            throw new VdfsError('UNAVAILABLE', `${l.name}: segment ${seg} stripe ${s}: fewer than ${k} fragments on the targets that answer`);
          }
          this.counters.unrecoverable++;
          throw new VdfsError('CHECKSUM', `${l.name}: segment ${seg} stripe ${s}: fewer than ${k} good fragments`);
        }
        this.counters.reconstructed++;
        frags.forEach((f, r) => { if (got.has(r)) got.get(r)![i] = Buffer.from(f!.buffer, f!.byteOffset, f!.length); });
      }
    }
    for (const x of repair ? bad : []) {
      const unit = got.get(x.ref.role)?.[x.stripe - a];
      if (unit) void this.track(this.repairUnit(seg, e.gen, x.ref, x.stripe, unit));
    }
    return roles.map((r) => got.get(r)! as Buffer[]);
  }

  /** One role's units for stripes [a, b), from the first of its refs that holds each. */
  private async fetch(seg: number, e: Entry, role: number, a: number, b: number, bad: Bad[]): Promise<(Buffer | null)[]> {
    const l = this.l;
    const us = l.g.unitStored, u = l.label.unitBytes;
    const units = new Array<Buffer | null>(b - a).fill(null);
    for (const ref of e.refs) {
      if (ref.role !== role || !l.usable(ref.target)) continue;
      const need = units.map((x, i) => (x || !holds(ref, a + i) ? -1 : i)).filter((i) => i >= 0);
      if (!need.length) break;
      const lo = need[0], hi = need[need.length - 1] + 1;
      let buf: Buffer;
      try { buf = await l.slots[ref.target].target!.read(l.g.chunkAt(ref.chunk, a + lo), (hi - lo) * us); } catch (err) { await l.fail(ref.target, err); continue; }
      for (let i = lo; i < hi; i++) {
        if (units[i] || !holds(ref, a + i)) continue;
        const at = (i - lo) * us;
        if (unitHolds(buf, at, u, seg, a + i, role, e.gen)) units[i] = buf.subarray(at, at + u);
        else bad.push({ ref, stripe: a + i });
      }
    }
    return units;
  }

  /** Writes one unit back where it failed its check, if the segment still maps it there. */
  repairUnit(seg: number, gen: number, ref: Ref, stripe: number, data: Buffer): Promise<void> {
    const l = this.l;
    return l.lock(seg).run(async () => {
      const e = l.table.get(seg);
      if (!e || e.gen !== gen || !e.refs.includes(ref) || !holds(ref, stripe) || !l.usable(ref.target)) return;
      const b = Buffer.allocUnsafe(l.g.unitStored);
      writeUnit(b, 0, data, l.label.unitBytes, seg, stripe, ref.role, gen);
      try {
        await l.slots[ref.target].target!.write(l.g.chunkAt(ref.chunk, stripe), b);
        this.counters.repaired++;
      } catch (err) { await l.fail(ref.target, err); }
    });
  }
}
