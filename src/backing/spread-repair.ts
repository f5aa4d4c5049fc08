/**
 * Background repair of a spread layout. The healer turns segments written as whole copies while
 * a target was out back into EC (then frees the copies' chunks) and re-creates fragments marked
 * missing, once the targets they belong on answer. Rebuild adopts an empty target at a lost
 * target's path (new label and id), marks every fragment that belonged there missing and lets the
 * healer re-create them. Scrub reads and checks every unit of every segment and writes back the
 * bad ones.
 */
import { VdfsError } from '../errors.js';
import { holds, Mode, newId, Ref, unitHolds, writeUnit } from './spread-format.js';
import type { SpreadLayout } from './spread.js';
import type { Progress } from './layout.js';

/** Segments healed between two table syncs (their old chunks are freed by that sync). */
const HEAL_SYNC_EVERY = 8;

interface ScrubState { running: boolean; segments: number; done: number; units: number; bad: number; repaired: number; unrecoverable: number; missing: number }

export class Repairer {
  private freed: Ref[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;
  private healed = 0;
  private rebuilding: { targets: string[]; total: number; done: number; progress?: Progress } | null = null;
  private scrubbing: ScrubState | null = null;
  lastError = '';

  constructor(private l: SpreadLayout) {}

  /** Chunks freed since the last table sync; the sync that makes their segments' new refs durable frees them. */
  takeFreed(): Ref[] { const f = this.freed; this.freed = []; return f; }
  free(refs: Ref[]): void { this.freed.push(...refs); }

  /** Starts the healer if there is work it can do and it is not running. */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.loop().catch((e) => { this.lastError = (e as Error).message; }).finally(() => { this.running = null; });
  }

  /** Resolves when the healer has nothing left it can do now. */
  async idle(): Promise<void> { while (this.running) await this.running; }

  async stop(): Promise<void> { this.stopped = true; await this.running; }

  private allUp(): boolean { return this.l.slots.every((s) => s.usable); }

  /** Segments the healer can work on now. */
  private work(): number[] {
    const out: number[] = [];
    for (const [seg, e] of this.l.table.live()) {
      if (e.mode === Mode.Replicated ? this.allUp() : e.refs.some((r) => r.missing && this.l.usable(r.target))) out.push(seg);
    }
    return out;
  }

  private async loop(): Promise<void> {
    const failed = new Set<number>();
    for (;;) {
      const segs = this.work().filter((s) => !failed.has(s));
      if (!segs.length || this.stopped) break;
      for (let i = 0; i < segs.length && !this.stopped; i++) {
        if (!(await this.healSeg(segs[i]))) failed.add(segs[i]);
        if ((i + 1) % HEAL_SYNC_EVERY === 0) await this.l.syncTable();
      }
      await this.l.syncTable();
    }
    for (const s of this.l.slots) {
      if (s.state === 'rebuilding' && ![...this.l.table.live()].some(([, e]) => e.refs.some((r) => r.target === s.index && r.missing))) s.state = 'online';
    }
    if (this.rebuilding && !this.l.slots.some((s) => s.state === 'rebuilding')) this.rebuilding = null;
  }

  /** One segment back to full EC (or its missing fragments re-created); false if it could not be. */
  private healSeg(seg: number): Promise<boolean> {
    const { l } = this;
    return l.lock(seg).run(async () => {
      const e = l.table.get(seg);
      if (!e || !l.degraded(e)) return true;
      const { k, m } = l.label;
      /** start() may give the segment a new incarnation while this awaits (it takes no lock). */
      const current = () => l.table.get(seg) === e;
      try {
        if (e.mode === Mode.Replicated) {
          if (!this.allUp()) return false;
          const data = await l.io.gather(seg, e, 0, e.stripes, Array.from({ length: k }, (_, r) => r));
          const refs: Ref[] = Array.from({ length: k + m }, (_, role) => {
            const target = l.placement(seg, role);
            return { target, role, chunk: l.table.take(target, role), missing: false, validTo: 0 };
          });
          const parity = this.parity(data, e.stripes);
          const done = current() ? await Promise.allSettled(refs.map((r) => this.writeRole(seg, e.gen, r, r.role < k ? data[r.role] : parity[r.role - k], 0, e.stripes))) : [];
          const failed = done.find((x) => x.status === 'rejected');
          if (failed || !current()) {
            l.table.give(refs); // nothing names them; every write to them has settled
            if (failed) throw (failed as PromiseRejectedResult).reason;
            return false;
          }
          this.freed.push(...e.refs);
          e.refs = refs; e.mode = Mode.Ec;
        } else {
          for (const r of e.refs.filter((x) => x.missing && l.usable(x.target))) {
            if (r.validTo < e.stripes) {
              const [units] = await l.io.gather(seg, e, r.validTo, e.stripes, [r.role], false);
              if (!current()) return false;
              await this.writeRole(seg, e.gen, r, units, r.validTo, e.stripes);
            }
            r.missing = false; r.validTo = 0;
            const b = this.rebuilding;
            if (b && l.slots[r.target].state === 'rebuilding') b.progress?.(++b.done, b.total);
          }
        }
        l.table.touch(seg);
        this.healed++;
        return true;
      } catch (err) {
        this.lastError = `segment ${seg}: ${(err as Error).message}`;
        return false;
      }
    });
  }

  private parity(data: Buffer[][], stripes: number): Buffer[][] {
    const { k, m, unitBytes: u } = this.l.label;
    const out = Array.from({ length: m }, () => new Array<Buffer>(stripes));
    for (let s = 0; s < stripes; s++) {
      const p = Array.from({ length: m }, () => Buffer.allocUnsafe(u));
      this.l.rs.encode(Array.from({ length: k }, (_, r) => data[r][s]), p);
      p.forEach((b, j) => { out[j][s] = b; });
    }
    return out;
  }

  /** Stripes [from, to) of one role (units[0] is stripe `from`) to its chunk, then synced. */
  private async writeRole(seg: number, gen: number, r: Ref, units: Buffer[], from: number, to: number): Promise<void> {
    const { l } = this;
    if (to <= from) return;
    const piece = Buffer.allocUnsafe((to - from) * l.g.unitStored);
    for (let s = from; s < to; s++) writeUnit(piece, (s - from) * l.g.unitStored, units[s - from], l.label.unitBytes, seg, s, r.role, gen);
    const t = l.slots[r.target].target;
    if (!t) throw new VdfsError('UNAVAILABLE', `target ${l.slots[r.target].path} went away`);
    try {
      await t.write(l.g.chunkAt(r.chunk, from), piece);
      await t.sync();
    } catch (err) {
      await l.fail(r.target, err);
      throw err;
    }
  }

  /**
   * Adopts every target that is present but empty (a replaced disk, a recreated directory): a
   * new label and id, the header and table copied, every fragment that belonged there marked
   * missing; then waits while the healer re-creates them. Returns the number of fragments.
   */
  async rebuild(progress?: Progress): Promise<number> {
    const { l } = this;
    for (const s of l.slots) if (!s.usable) await l.tryReturn(s, Infinity);
    const empty = l.slots.filter((s) => s.state === 'empty');
    if (!empty.length) {
      const out = l.slots.filter((s) => !s.usable).map((s) => `${s.path} (${s.state})`);
      throw new VdfsError('INVALID', out.length ? `no empty target to rebuild onto; out: ${out.join(', ')}` : 'every target is online; nothing to rebuild');
    }
    let total = 0;
    for (const s of empty) {
      const t = await l.source.open(s.path, true);
      await l.serial.run(async () => {
        const from = l.slots.find((x) => x.usable);
        if (!from) throw new VdfsError('UNAVAILABLE', 'no target to rebuild from');
        const id = newId();
        s.up(t, 'rebuilding');
        await l.labelTarget(s, id);
        await l.resync(s, from);
        l.ids[s.index] = id;
        for (const [seg, e] of l.table.live()) {
          for (const r of e.refs) if (r.target === s.index) { r.missing = true; r.validTo = 0; total++; l.table.touch(seg); }
        }
      });
    }
    await l.syncTable();
    this.rebuilding = { targets: empty.map((s) => s.path), total, done: 0, progress };
    progress?.(0, total);
    this.kick();
    await this.idle();
    return total;
  }

  /** Reads every unit of every segment; bad ones are written back from their copies or parity. */
  async scrub(progress?: Progress): Promise<void> {
    const { l } = this;
    if (this.scrubbing?.running) throw new VdfsError('BUSY', 'a scrub is running');
    const segs = [...l.table.live()].map(([s]) => s);
    const st: ScrubState = { running: true, segments: segs.length, done: 0, units: 0, bad: 0, repaired: 0, unrecoverable: 0, missing: 0 };
    this.scrubbing = st;
    try {
      for (const seg of segs) {
        if (this.stopped) break;
        await l.lock(seg).run(() => this.scrubSeg(seg, st));
        progress?.(++st.done, st.segments);
      }
    } finally {
      st.running = false;
    }
  }

  private async scrubSeg(seg: number, st: ScrubState): Promise<void> {
    const { l } = this;
    const e = l.table.get(seg);
    if (!e || e.mode === Mode.Free || !e.stripes) return;
    const u = l.label.unitBytes, us = l.g.unitStored;
    const bad: { r: Ref; stripe: number }[] = [];
    for (const r of e.refs) {
      if (r.missing || !l.usable(r.target)) { st.missing++; continue; }
      let buf: Buffer;
      try { buf = await l.slots[r.target].target!.read(l.g.chunkAt(r.chunk), e.stripes * us); } catch (err) { await l.fail(r.target, err); st.missing++; continue; }
      for (let s = 0; s < e.stripes; s++) {
        st.units++;
        if (!unitHolds(buf, s * us, u, seg, s, r.role, e.gen)) bad.push({ r, stripe: s });
      }
    }
    st.bad += bad.length;
    for (const { r, stripe } of bad) {
      try {
        const [[unit]] = await l.io.gather(seg, e, stripe, stripe + 1, [r.role], false);
        if (l.table.get(seg) !== e) return; // started again meanwhile: its old chunks are not its own any more
        const b = Buffer.allocUnsafe(us);
        writeUnit(b, 0, unit, u, seg, stripe, r.role, e.gen);
        await l.slots[r.target].target!.write(l.g.chunkAt(r.chunk, stripe), b);
        st.repaired++; l.io.counters.repaired++;
      } catch {
        st.unrecoverable++;
      }
    }
  }

  view(): object {
    return {
      heal: { running: this.running !== null, healed: this.healed, pending: this.work().length, ...(this.lastError ? { lastError: this.lastError } : {}) },
      ...(this.rebuilding ? { rebuild: { targets: this.rebuilding.targets, total: this.rebuilding.total, done: this.rebuilding.done } } : {}),
      ...(this.scrubbing ? { scrub: { ...this.scrubbing } } : {}),
    };
  }
}
