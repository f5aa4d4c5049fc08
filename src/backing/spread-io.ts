/**
 * Reads and writes of a spread layout. Writes gather whole stripes (a partial one waits in memory
 * until it fills or the next sync, which is why the appender starts each txg on a stripe), code
 * them and write every role's units in one call per chunk. Reads fetch only the data roles they
 * need and check every unit's trailer (large ones scattered in place, spread-scatter.ts); a read
 * that must check hashes, or finds a unit not there, goes to the verified reads
 * (spread-verified.ts), which rebuild from the other roles (other copies, parity) what is
 * missing or bad and write back a unit that failed its check (read repair).
 */
import { invariant, LIMITS } from '../limits.js';
import { VdfsError } from '../errors.js';
import { Entry, holds, markMissing, Mode, Ref, SpreadKind } from './spread-format.js';
import { cutStripes, unitsOf, type PendingStripe, type Stripe, type StripeShape } from './spread-stripes.js';
import { RoleWrites } from './spread-write.js';
import { placeRoles, placeUnit, unitsPresent, type Placement } from './spread-place.js';
import { scatterRead, type ScatterSource } from './spread-scatter.js';
import { VerifiedReads } from './spread-verified.js';
import { tolerance, type SpreadLayout } from './spread.js';
import { ReadAhead } from './spread-readahead.js';
import { BufferPool } from './buffer-pool.js';

export class SpreadIo {
  /** `scattered`: large fast reads made in place (spread-scatter.ts); `declined`: of them, those that found a unit not there and went verified. */
  readonly counters = { reconstructed: 0, repaired: 0, unrecoverable: 0, degradedSegments: 0, readAheadHits: 0, readAheadFetches: 0, scattered: 0, declined: 0 };
  private pending = new Map<number, PendingStripe>();
  private issued = new Map<number, number>();
  private inflight = new Set<Promise<unknown>>();
  private touched = new Set<number>();
  /** Stripes of each segment made durable by the last sync (what a target lost during a sync still holds). */
  private durable = new Map<number, number>();
  private ahead = new ReadAhead();
  private pool = new BufferPool();
  /** Reads that check every unit's hash and rebuild what is missing or bad. */
  private verified: VerifiedReads;

  /** How segment writes are cut into stripes (spread-stripes.ts). */
  private readonly shape: StripeShape;

  constructor(private l: SpreadLayout) {
    this.shape = { stripeData: l.g.stripeData, unit: l.label.unitBytes, segmentSize: l.g.l.segmentSize };
    this.verified = new VerifiedReads(l, this.counters, (p) => this.track(p));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => { this.inflight.delete(p); };
    p.then(done, done);
    return p;
  }

  /** Waits for every write and repair in flight. */
  async drain(): Promise<void> { await Promise.allSettled([...this.inflight]); }

  /**
   * Writes the concatenation of `parts` at `off` of the segment: the stripes it completes are
   * coded and written now, from views into the parts (spread-stripes.ts); a stripe it covers in
   * part waits for the next write or sync.
   */
  async write(seg: number, off: number, parts: Buffer[]): Promise<void> {
    const { table } = this.l;
    if (off === 0) this.start(seg);
    const e = table.get(seg);
    invariant(e && e.mode !== Mode.Free, `segment ${seg} was started before its first write`);
    this.touched.add(seg);
    const { full, joined } = cutStripes(this.shape, this.pending, seg, off, parts, (n) => this.pool.take(n));
    try {
      if (full.length) await this.track(this.writeStripes(seg, full));
    } finally {
      if (joined) this.pool.give(joined);
    }
  }

  /** Writes out every partial stripe, zero-padded (each txg starts on a new stripe). */
  async flushPartial(): Promise<void> {
    const all = [...this.pending];
    this.pending.clear();
    const u = this.l.label.unitBytes;
    await Promise.all(all.map(([seg, p]) => this.track(this.writeStripes(seg, [unitsOf(p, u)]))));
  }

  /** A new incarnation of a segment: its mode, chunks and generation. */
  private start(seg: number): void {
    const { l } = this;
    const { k, m, kind } = l.label;
    const old = l.table.get(seg);
    const roles = Array.from({ length: k + m }, (_, r) => r);
    const out = roles.filter((r) => !l.usable(l.placement(seg, r))).length;
    if (out > m) throw this.unavailable();
    let refs: Ref[];
    let mode = Mode.Ec;
    if (out === 0 || kind === SpreadKind.Mirror) {
      refs = roles.map((role) => {
        const target = l.placement(seg, role);
        const same = old?.mode === Mode.Ec ? old.refs.find((r) => r.target === target && r.role === role) : undefined;
        return { target, role, chunk: same ? same.chunk : l.table.take(target, role), missing: !l.usable(target), validTo: 0 };
      });
    } else {
      mode = Mode.Replicated;
      const up = l.slots.filter((s) => s.usable).map((s) => s.index);
      const copies = Array.from({ length: Math.min(LIMITS.DEGRADED_COPIES, up.length) }, (_, i) => up[(seg + i) % up.length]);
      refs = copies.flatMap((target) => roles.slice(0, k).map((role) => ({ target, role, chunk: l.table.take(target, role), missing: false, validTo: 0 })));
      this.counters.degradedSegments++;
    }
    // freed only once the table naming the new refs is durable (a torn sync must not leave two segments on one chunk)
    if (old) l.repair.free(old.refs.filter((o) => !refs.some((r) => r.target === o.target && r.chunk === o.chunk)));
    l.table.set(seg, { gen: ++l.table.gen, mode, stripes: 0, refs });
    this.pending.delete(seg);
    this.ahead.drop(seg);
    this.issued.set(seg, 0);
    this.durable.set(seg, 0);
  }

  private unavailable(): VdfsError {
    const { l } = this;
    const out = l.slots.filter((s) => !s.usable).map((s) => `${s.path} (${s.state})`);
    return new VdfsError('UNAVAILABLE', `${l.name} cannot write: ${out.length} of ${l.n} targets out (${out.join(', ')}); it survives ${tolerance(l.spec, l.n).targets}`);
  }

  /** True while every stripe of the segment can still be read back from what was written. */
  survives(e: Entry): boolean {
    const ok = e.refs.filter((r) => !r.missing && this.l.usable(r.target));
    const roles = new Set(ok.map((r) => r.role));
    if (e.mode === Mode.Ec) return roles.size >= this.l.label.k;
    for (let r = 0; r < this.l.label.k; r++) if (!roles.has(r)) return false;
    return true;
  }

  private writeStripes(seg: number, run: Stripe[]): Promise<void> {
    const { l } = this;
    const first = run[0].stripe;
    const prev = this.issued.get(seg) ?? 0;
    for (let i = 1; i < run.length; i++) invariant(run[i].stripe === first + i, 'stripes of one write are contiguous');
    this.issued.set(seg, Math.max(prev, first + run.length));
    return l.lock(seg).run(async () => {
      const e = l.table.get(seg)!;
      const live = e.refs.filter((ref) => {
        if (ref.missing) return false;
        if (l.usable(ref.target)) return true;
        markMissing(ref, Math.min(first, this.durable.get(seg) ?? 0)); l.table.touch(seg);
        return false;
      });
      const pieces = new RoleWrites(l, this.pool, seg, e.gen, run);
      try {
        pieces.code(live.map((ref) => ref.role));
        await Promise.all(live.map(async (ref) => {
          try {
            await pieces.write(l.slots[ref.target].target!, l.g.chunkAt(ref.chunk, first), ref.role);
          } catch (err) {
            await l.fail(ref.target, err);
            markMissing(ref, Math.min(first, this.durable.get(seg) ?? 0)); l.table.touch(seg);
          }
        }));
      } finally {
        pieces.release();
      }
      if (!this.survives(e)) throw this.unavailable();
      e.stripes = Math.max(e.stripes, first + run.length);
      l.table.touch(seg);
    });
  }

  /** A target dropped between syncs: its fragments written since the last sync were never made durable there. */
  dropped(t: number): void {
    for (const seg of this.touched) {
      const e = this.l.table.get(seg);
      for (const r of e?.refs ?? []) if (r.target === t && markMissing(r, this.durable.get(seg) ?? 0)) this.l.table.touch(seg);
    }
  }

  /** After a target dropped out during a sync: its fragments of every segment written since the last sync are gone. */
  lostSinceSync(): void {
    for (const seg of this.touched) {
      const e = this.l.table.get(seg);
      if (!e) continue;
      const durable = this.durable.get(seg) ?? 0;
      for (const r of e.refs) if (!this.l.usable(r.target) && markMissing(r, durable)) this.l.table.touch(seg);
      if (!this.survives(e)) throw this.unavailable();
    }
  }

  synced(): void {
    for (const seg of this.touched) this.durable.set(seg, this.l.table.get(seg)?.stripes ?? 0);
    this.touched.clear();
  }

  /**
   * Bytes [off, off+len) of a segment. `verify: false` checks each unit's trailer but not its
   * hash (the caller checks what it reads, and reads again verified on a mismatch); a unit whose
   * trailer is wrong makes the read verified after all. `into` (len bytes): where to read, and
   * what is returned.
   */
  async read(seg: number, off: number, len: number, verify = true, into?: Buffer): Promise<Buffer> {
    const { l } = this;
    const e = l.table.get(seg);
    if (!e || e.mode === Mode.Free || !len) return into ? into.fill(0) : Buffer.alloc(len);
    const SW = l.g.stripeData, u = l.label.unitBytes, us = l.g.unitStored;
    const a = Math.floor(off / SW), b = Math.ceil((off + len) / SW);
    if (b > e.stripes && (this.issued.get(seg) ?? 0) > e.stripes) await l.lock(seg).run(() => undefined);
    const hi = Math.min(b, e.stripes);
    const roles = a < hi ? this.rolesOf(a, hi, off, len) : [];
    const p: Placement = { a, hi, stripeData: SW, unitBytes: u, unitStored: us, off, len, roles };
    // a large fast read keeps nothing (it is about as large as a read-ahead): scattered in place
    // where the targets can, else read into pooled buffers and placed
    const tried = a < hi && !verify && hi - a >= LIMITS.SPREAD_DIRECT_STRIPES;
    const sources = tried ? this.sourcesOf(e, roles, a, hi) : null;
    const out = into ?? Buffer.allocUnsafe(len);
    const scattered = sources?.every((x) => x.target.readScatter) ? await scatterRead(sources, e.gen, p, out) : null;
    if (scattered) this.counters[scattered === 'absent' ? 'declined' : 'scattered']++;
    if (scattered !== out) {
      // Every byte below stripe hi is copied from a unit of a role it lies in; the rest reads zeros.
      out.fill(0, Math.max(0, Math.min(len, hi * SW - off)));
      if (a < hi) await this.readHere(seg, e, p, out, verify, tried, scattered === 'absent');
    }
    // The partial stripe still in memory (a flush during the read above moved it to the target,
    // where this read did not look: those bytes read as zeros, the record's checksum fails and
    // the datastore reads again, verified).
    const pend = this.pending.get(seg);
    if (pend && pend.stripe >= a && pend.stripe < b) {
      const at = pend.stripe * SW, from = Math.max(off, at), to = Math.min(off + len, at + SW);
      if (to > from) pend.buf.copy(out, from - off, from - at, to - at);
    }
    return out;
  }

  /** Where the units of `roles` for stripes [a, hi) are stored, each from its first ref that holds them all; null when one has none. */
  private sourcesOf(e: Entry, roles: number[], a: number, hi: number): ScatterSource[] | null {
    const { l } = this;
    const out: ScatterSource[] = [];
    for (const role of roles) {
      const ref = e.refs.find((r) => r.role === role && l.usable(r.target));
      if (!ref) return null;
      for (let s = a; s < hi; s++) if (!holds(ref, s)) return null;
      out.push({ target: l.slots[ref.target].target!, at: l.g.chunkAt(ref.chunk, a), n: (hi - a) * l.g.unitStored });
    }
    return out;
  }

  /**
   * Reads the units of p on the event loop and places them in out (`tried`: a fast read of many
   * stripes; `absent`: a scattered read of it found a unit not there, so it goes verified).
   */
  private async readHere(seg: number, e: Entry, p: Placement, out: Buffer, verify: boolean, tried: boolean, absent: boolean): Promise<void> {
    const { a, hi, off, len, roles } = p;
    if (verify) this.ahead.drop(seg); // what it keeps was checked only as far as a fast read checks
    const lease: Buffer[] = [];
    try {
      const direct = tried && !absent ? await this.readRoles(seg, e, a, hi, roles, lease) : null;
      // straight from the role buffers: no unit slices made for the 256 units of a MiB
      if (direct) { placeRoles(out, direct, p); return; }
      const kept = verify ? null : this.ahead.get(seg, a, hi);
      if (kept) this.counters.readAheadHits++;
      // a direct read that found a unit not there as it should be is not tried fast again
      const units = kept ?? (await this.fetchData(seg, e, a, hi, off, len, verify || tried));
      units.forEach((unitsOfRole, r) => unitsOfRole?.forEach((unit, i) => placeUnit(out, p, r, i, unit, 0)));
    } finally {
      for (const buf of lease) this.pool.give(buf);
    }
  }

  /**
   * Data units of stripes [a, hi) by role (null for a role the byte range does not touch); a
   * sequential read takes every role READ_AHEAD_STRIPES at once and keeps the rest for later.
   * Unverified first when `verify` is off (falling back to a verified read when a unit is not
   * there as it should be).
   */
  private async fetchData(seg: number, e: Entry, a: number, hi: number, off: number, len: number, verify: boolean): Promise<(Buffer[] | null)[]> {
    if (!verify) {
      const fast = await this.fetchWith(seg, e, a, hi, off, len, (x, y, roles) => this.gatherFast(seg, e, x, y, roles));
      if (fast) return fast;
    }
    return (await this.fetchWith(seg, e, a, hi, off, len, (x, y, roles) => this.gather(seg, e, x, y, roles)))!;
  }

  /** fetchData through `get` (units of roles for stripes [x, y), or null when it cannot): null when get gave null. */
  private async fetchWith(seg: number, e: Entry, a: number, hi: number, off: number, len: number,
    get: (x: number, y: number, roles: number[]) => Promise<Buffer[][] | null>): Promise<(Buffer[] | null)[] | null> {
    const { l } = this;
    const { k, unitBytes: u } = l.label;
    const SW = l.g.stripeData;
    const all = Array.from({ length: k }, (_, r) => r);
    if (this.ahead.sequential(seg, a)) {
      let from = a; // stripes already kept are not read again
      while (from < hi && this.ahead.has(seg, from)) from++;
      const units = await get(from, Math.min(e.stripes, Math.max(hi, from + LIMITS.READ_AHEAD_STRIPES)), all);
      if (!units) return null;
      this.counters.readAheadFetches++;
      if (l.table.get(seg) === e) { // not when the segment was started again meanwhile
        this.ahead.keep(seg, from, units);
        const got = this.ahead.get(seg, a, hi);
        if (got) return got;
      }
    }
    const roles = this.rolesOf(a, hi, off, len);
    const got = await get(a, hi, roles);
    if (!got) return null;
    if (roles.length === k && l.table.get(seg) === e) this.ahead.keep(seg, a, got); // a later read may continue it
    return this.byRole(got, roles);
  }

  /** The data roles whose units in stripes [a, hi) the byte range [off, off+len) touches. */
  private rolesOf(a: number, hi: number, off: number, len: number): number[] {
    const SW = this.l.g.stripeData, u = this.l.label.unitBytes;
    const touched = (r: number) => { for (let s = a; s < hi; s++) if (s * SW + (r + 1) * u > off && s * SW + r * u < off + len) return true; return false; };
    return Array.from({ length: this.l.label.k }, (_, r) => r).filter(touched);
  }

  /** Units fetched for `roles`, indexed by role (null for the roles not fetched). */
  private byRole(got: Buffer[][], roles: number[]): (Buffer[] | null)[] {
    return Array.from({ length: this.l.label.k }, (_, r) => (roles.includes(r) ? got[roles.indexOf(r)] : null));
  }

  /** Units of `roles` for stripes [a, b) from their first refs, trailers checked; null unless every one is there. */
  private async gatherFast(seg: number, e: Entry, a: number, b: number, roles: number[]): Promise<Buffer[][] | null> {
    const raw = await this.readRoles(seg, e, a, b, roles);
    const us = this.l.g.unitStored, u = this.l.label.unitBytes;
    return raw && raw.map((buf) => Array.from({ length: b - a }, (_, i) => buf.subarray(i * us, i * us + u)));
  }

  /**
   * The stored units (data and trailer, back to back) of `roles` for stripes [a, b), one buffer
   * per role read with one read of its first ref, trailers checked; null unless every one is there.
   * With `lease`, read into pooled buffers (pushed there for the caller to give back once it no
   * longer needs them).
   */
  private async readRoles(seg: number, e: Entry, a: number, b: number, roles: number[], lease?: Buffer[]): Promise<Buffer[] | null> {
    const sources = this.sourcesOf(e, roles, a, b);
    if (!sources) return null;
    const us = this.l.g.unitStored, u = this.l.label.unitBytes;
    const out = await Promise.all(sources.map(async ({ target: t, at, n }) => {
      let buf: Buffer;
      try {
        if (lease && t.readInto) {
          const whole = this.pool.take(n);
          lease.push(whole);
          buf = whole.subarray(0, n);
          await t.readInto(at, buf);
        } else {
          buf = await t.read(at, n);
        }
      } catch { return null; } // the verified read reports it
      return unitsPresent(buf, b - a, u, us, e.gen) ? buf : null;
    }));
    return out.every((x) => x) ? (out as Buffer[]) : null;
  }

  /** Units of `roles` for stripes [a, b), checked and rebuilt where they must be (spread-verified.ts). */
  gather(seg: number, e: Entry, a: number, b: number, roles: number[], repair = true): Promise<Buffer[][]> {
    return this.verified.gather(seg, e, a, b, roles, repair);
  }
}
