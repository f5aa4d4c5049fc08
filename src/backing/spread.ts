/**
 * The spread layouts: ec:K+M and mirror:N over several targets. A segment is cut into stripes of
 * k units; each stripe's k data units and m parity units (Reed-Solomon, rs.ts) go to k+m chunks
 * placed round-robin from the segment number, so no target holds more than ⌈(k+m)/n⌉ ≤ m of one
 * segment. While a target is out, new segments of an EC layout are written as DEGRADED_COPIES
 * whole copies on the targets that are there (mode Replicated) and the healer turns them back into
 * EC once every target is back. The datastore's header region is written to every target. The
 * on-target format is in spread-format.ts; reads and writes are in spread-io.ts, healing,
 * rebuild and scrub in spread-repair.ts.
 */
import { LIMITS } from '../limits.js';
import { isVdfsError, VdfsError } from '../errors.js';
import { Mutex } from '../txn/mutex.js';
import type { Layout, LayoutStatus, Progress } from './layout.js';
import type { Target } from './target.js';
import { TargetSlot } from './health.js';
import { ReedSolomon } from './rs.js';
import { bestPage, refsPerEntry, decodeLabel, decodeMeta, encodeLabel, encodeMeta, Entry, Geometry, Label, Meta, Mode, newId, sealPage, SpreadKind } from './spread-format.js';
import { SegTable } from './spread-table.js';
import { SpreadIo } from './spread-io.js';
import { Repairer } from './spread-repair.js';

/** How targets are opened: directories, files and devices (open.ts) or memory (tests). */
export interface TargetSource {
  open(path: string, create: boolean): Promise<Target>;
  /** True when something is at the path (an empty directory counts), so a failed open means "empty", not "missing". */
  exists(path: string): Promise<boolean>;
}

export interface SpreadSpec { kind: SpreadKind; k: number; m: number }

/** `ec:4+2` → {Ec, 4, 2}; `mirror:3` → {Mirror, 1, 2}; null for anything else. */
export function parseSpread(s: string): SpreadSpec | null {
  let r = /^ec:(\d+)\+(\d+)$/.exec(s);
  if (r) return { kind: SpreadKind.Ec, k: Number(r[1]), m: Number(r[2]) };
  r = /^mirror:(\d+)$/.exec(s);
  if (r) return { kind: SpreadKind.Mirror, k: 1, m: Number(r[1]) - 1 };
  return null;
}
export const spreadName = (s: SpreadSpec): string => (s.kind === SpreadKind.Ec ? `ec:${s.k}+${s.m}` : `mirror:${s.m + 1}`);

/** Fragments of one segment on one target, and how many whole targets may be lost. */
export function tolerance(s: SpreadSpec, n: number): { perTarget: number; targets: number } {
  const perTarget = Math.ceil((s.k + s.m) / Math.min(n, s.k + s.m));
  return { perTarget, targets: Math.floor(s.m / perTarget) };
}

export function checkSpread(s: SpreadSpec, n: number): void {
  const name = spreadName(s);
  if (s.k < 1 || s.m < 1 || refsPerEntry(s) > LIMITS.SPREAD_REFS_MAX) {
    throw new VdfsError('INVALID', `${name}: need k ≥ 1, m ≥ 1, k + m ≤ ${LIMITS.SPREAD_REFS_MAX} and ${LIMITS.DEGRADED_COPIES}k ≤ ${LIMITS.SPREAD_REFS_MAX}`);
  }
  if (n < 2 || n > LIMITS.TARGETS_MAX) throw new VdfsError('INVALID', `${name}: needs 2 to ${LIMITS.TARGETS_MAX} targets (got ${n})`);
  if (tolerance(s, n).targets < 1) {
    throw new VdfsError('INVALID', `${name} on ${n} targets puts ${tolerance(s, n).perTarget} fragments of a segment on one target, more than the ${s.m} it can lose`);
  }
}

/** A target's label: copy 0, else copy 1 (null when neither is valid: an empty or foreign target). */
export async function readLabel(t: Target): Promise<Label | null> {
  return decodeLabel(await t.read(0, LIMITS.SPREAD_PAGE)) ?? decodeLabel(await t.read(LIMITS.SPREAD_PAGE, LIMITS.SPREAD_PAGE));
}

async function writeLabel(t: Target, label: Label): Promise<void> {
  const b = encodeLabel(label);
  await t.write(0, b); await t.write(LIMITS.SPREAD_PAGE, b);
}

/** Both stored slots of table page p. */
async function pageSlots(t: Target, g: Geometry, p: number): Promise<Buffer[]> {
  return [await t.read(g.pageSlotAt(p, 0), LIMITS.SPREAD_PAGE), await t.read(g.pageSlotAt(p, 1), LIMITS.SPREAD_PAGE)];
}

/** `probe: false` leaves the health check to explicit probe() calls (tests that drive it step by step). */
export interface SpreadOptions { probe?: boolean }

export class SpreadLayout implements Layout {
  readonly name: string;
  /** The table's size in segments (mkfs --max-segments). */
  get maxSegments(): number { return this.label.maxSegments; }
  readonly appendAlign: number;
  readonly rs: ReedSolomon;
  readonly io: SpreadIo;
  readonly repair: Repairer;
  /** Syncs, resyncs and healer table writes, one at a time. */
  readonly serial = new Mutex();
  private locks = new Map<number, Mutex>();
  ids: Buffer[];
  seq: bigint;
  private probeTimer: NodeJS.Timeout | null = null;
  closed = false;

  private constructor(readonly label: Label, readonly g: Geometry, readonly slots: TargetSlot[], readonly table: SegTable, readonly source: TargetSource, ids: Buffer[], seq: bigint) {
    this.name = spreadName(label);
    this.appendAlign = Math.max(LIMITS.TXG_ALIGN, g.stripeData);
    this.rs = new ReedSolomon(label.k, label.m);
    this.ids = ids;
    this.seq = seq;
    this.io = new SpreadIo(this);
    this.repair = new Repairer(this);
  }

  get spec(): SpreadSpec { return this.label; }
  get n(): number { return this.label.n; }

  static async mkfs(spec: SpreadSpec, paths: string[], source: TargetSource, segmentSize: number, maxSegments: number = LIMITS.SPREAD_MAX_SEGMENTS, o: SpreadOptions = {}): Promise<SpreadLayout> {
    checkSpread(spec, paths.length);
    const base = { ...spec, n: paths.length, segmentSize, unitBytes: LIMITS.UNIT_BYTES, maxSegments, layoutId: newId(), paths };
    const g = new Geometry(base);
    const slots = paths.map((p, i) => new TargetSlot(i, p));
    const ids = paths.map(() => newId());
    for (const s of slots) {
      const t = await source.open(s.path, true);
      await writeLabel(t, { ...base, index: s.index, targetId: ids[s.index] });
      s.up(t);
    }
    const l = new SpreadLayout({ ...base, index: 0, targetId: ids[0] }, g, slots, new SegTable(g), source, ids, 0n);
    await l.sync();
    if (o.probe !== false) l.startProbe();
    return l;
  }

  /**
   * Opens the layout that `first` belongs to: its label names every target. A target that does
   * not answer, carries another id or was not current at the last sync is brought up to date
   * (header and table copied) if it can be, or left out.
   */
  static async open(first: string, source: TargetSource, o: SpreadOptions = {}): Promise<SpreadLayout> {
    const t0 = await source.open(first, false);
    const label = await readLabel(t0);
    await t0.close();
    if (!label) throw new VdfsError('NO_DATASTORE', `${first} holds no vdfs layout label`);
    const paths = label.paths;
    const g = new Geometry(label);
    const slots = paths.map((p, i) => new TargetSlot(i, p));
    const metas: (Meta & { slot: TargetSlot; seq: bigint; metaSlot: number; targetId: Buffer })[] = [];
    for (const s of slots) {
      try {
        const t = await source.open(s.path, false);
        const l = await readLabel(t);
        if (!l) { s.down('empty', 'no vdfs label: add it back with `vdfs rebuild`'); await t.close(); continue; }
        if (!l.layoutId.equals(label.layoutId) || l.index !== s.index) { s.down('missing', 'holds another layout or another target'); await t.close(); continue; }
        s.up(t);
        const best = bestPage(await pageSlots(t, g, 0));
        if (best) metas.push({ slot: s, seq: best.seq, metaSlot: best.slot, ...decodeMeta(best.payload, label.n), targetId: l.targetId });
      } catch (e) {
        s.down('missing', (e as Error).message);
      }
    }
    const fresh = metas.sort((a, b) => (a.seq < b.seq ? 1 : -1))[0];
    if (!fresh) throw new VdfsError('UNAVAILABLE', `no target of ${first}'s layout could be read`);
    const table = new SegTable(g);
    table.latest[0] = fresh.metaSlot;
    const l = new SpreadLayout(label, g, slots, table, source, fresh.ids, fresh.seq);
    for (let p = 1; p < fresh.usedPages; p++) table.load(p, await pageSlots(fresh.slot.target!, g, p));
    table.usedPages = Math.max(fresh.usedPages, 1);
    table.rebuildAlloc();
    for (const s of slots) {
      const m = metas.find((x) => x.slot === s);
      if (!s.usable || m === fresh) continue;
      if (!m || !m.targetId.equals(fresh.ids[s.index])) { await l.drop(s, 'missing', 'its id is not the one this layout expects (replaced: use `vdfs rebuild`)'); continue; }
      const current = m.seq === fresh.seq && (fresh.online & (1 << s.index)) !== 0;
      if (!current) await l.resync(s, fresh.slot);
    }
    const needed = l.n - tolerance(l.spec, l.n).targets;
    if (l.online < needed) {
      const names = slots.filter((s) => !s.usable).map((s) => `${s.path} (${s.state})`).join(', ');
      await l.close();
      throw new VdfsError('UNAVAILABLE', `${l.name} needs ${needed} of its ${l.n} targets; out: ${names}`);
    }
    await l.sync();
    if (o.probe !== false) l.startProbe();
    l.repair.kick();
    return l;
  }

  /** A per-segment lock: writes, heal, scrub and read repair of one segment never interleave. */
  lock(seg: number): Mutex {
    let m = this.locks.get(seg);
    if (!m) { m = new Mutex(); this.locks.set(seg, m); }
    return m;
  }

  usable(t: number): boolean { return this.slots[t].usable; }
  /** Targets taking I/O now. */
  get online(): number { return this.slots.filter((s) => s.usable).length; }

  /** A target returned an error: it is marked down (and retried later). */
  async fail(t: number, e: unknown): Promise<void> {
    const s = this.slots[t];
    if (!s.usable) return;
    await this.drop(s, 'failing', (e as Error).message ?? String(e));
  }

  async drop(s: TargetSlot, state: 'failing' | 'missing' | 'empty', why: string): Promise<void> {
    const t = s.down(state, why);
    this.io.dropped(s.index);
    await t?.close().catch(() => undefined);
  }

  /** Where role r of segment seg goes in EC mode. */
  placement(seg: number, role: number): number { return (role + seg) % this.n; }

  readHeader(off: number, len: number): Promise<Buffer> {
    return this.anyTarget((t) => t.read(LIMITS.SPREAD_HEADER_BASE + off, len));
  }

  /** Under `serial`, so a resync copying the header region to a returning target cannot overwrite it with an older copy. */
  writeHeader(off: number, data: Buffer): Promise<void> {
    return this.serial.run(() => this.everyTarget((t) => t.write(LIMITS.SPREAD_HEADER_BASE + off, data)));
  }

  /** The first usable target that answers. */
  private async anyTarget<T>(fn: (t: Target) => Promise<T>): Promise<T> {
    for (const s of this.slots) {
      if (!s.usable) continue;
      try { return await fn(s.target!); } catch (e) { await this.fail(s.index, e); }
    }
    throw new VdfsError('UNAVAILABLE', `${this.name}: no target answers`);
  }

  /** Every usable target; the ones that fail are marked down; at least one must succeed. */
  async everyTarget(fn: (t: Target, i: number) => Promise<void>): Promise<void> {
    let ok = 0;
    await Promise.all(this.slots.map(async (s) => {
      if (!s.usable) return;
      try { await fn(s.target!, s.index); ok++; } catch (e) { await this.fail(s.index, e); }
    }));
    if (!ok) throw new VdfsError('UNAVAILABLE', `${this.name}: no target answers`);
  }

  readSeg(seg: number, off: number, len: number, verify = true): Promise<Buffer> { return this.io.read(seg, off, len, verify); }
  readonly readSegInto = async (seg: number, off: number, buf: Buffer, verify = true): Promise<void> => {
    const got = await this.io.read(seg, off, buf.length, verify, buf);
    if (got !== buf) got.copy(buf);
  };
  writeSeg(seg: number, off: number, data: Buffer): Promise<void> { return this.io.write(seg, off, [data]); }
  /** The log's records go to the targets without being joined first (spread-stripes.ts). */
  writeSegv(seg: number, off: number, parts: Buffer[]): Promise<void> { return this.io.write(seg, off, parts); }

  /**
   * Makes everything written so far durable: partial stripes written out, the changed table
   * pages and the meta page written to every usable target, every target synced. A target that
   * fails here loses its fragments of the segments written since the last sync (they are marked
   * missing and the table written again), as long as every segment keeps enough.
   */
  sync(): Promise<void> { return this.serial.run(() => this.syncNow(true)); }

  /** The same without writing partial stripes (the healer's table updates, mid-txg). */
  syncTable(): Promise<void> { return this.serial.run(() => this.syncNow(false)); }

  private async syncNow(stripes: boolean): Promise<void> {
    if (stripes) await this.io.flushPartial();
    await this.io.drain();
    const freed = this.repair.takeFreed();
    try {
      for (let round = 0; ; round++) {
        const before = this.online;
        await this.writeTable();
        await this.everyTarget((t) => t.sync());
        if (this.online === before) break;
        this.io.lostSinceSync();
        if (round > this.n) throw new VdfsError('UNAVAILABLE', `${this.name}: targets keep failing during sync`);
      }
    } catch (e) {
      this.repair.free(freed); // still to be freed by a later sync
      throw e;
    }
    this.io.synced();
    this.table.give(freed);
  }

  private async writeTable(): Promise<void> {
    const pages = [...this.table.dirty];
    this.table.dirty.clear();
    this.seq++;
    const meta = sealPage(this.seq, encodeMeta({ online: this.onlineMask(), usedPages: this.table.usedPages, ids: this.ids }));
    const writes = [...pages.map((p) => ({ p, b: this.table.sealed(p, this.seq) })), { p: 0, b: meta }];
    try {
      await this.everyTarget(async (t) => {
        for (const { p, b } of writes) await t.write(this.g.pageSlotAt(p, 1 - this.table.latest[p]), b);
      });
    } catch (e) {
      for (const p of pages) this.table.dirty.add(p);
      throw e;
    }
    for (const { p } of writes) this.table.latest[p] = 1 - this.table.latest[p];
  }

  onlineMask(): number {
    return this.slots.reduce((m, s) => (s.usable ? m | (1 << s.index) : m), 0);
  }

  /** Copies the header region and the table from `from` to `to`, then counts `to` as current. */
  async resync(to: TargetSlot, from: TargetSlot): Promise<void> {
    const src = from.target!, dst = to.target!;
    try {
      await dst.write(LIMITS.SPREAD_HEADER_BASE, await src.read(LIMITS.SPREAD_HEADER_BASE, LIMITS.HEADER_REGION));
      for (let p = 0; p < this.table.usedPages; p++) {
        for (const x of [0, 1]) await dst.write(this.g.pageSlotAt(p, x), await src.read(this.g.pageSlotAt(p, x), LIMITS.SPREAD_PAGE));
      }
      await dst.sync();
    } catch (e) {
      await this.fail(to.index, e);
    }
  }

  /** Brings back a target that is down, when its retry time has come (the probe calls this). */
  async tryReturn(s: TargetSlot, now = Date.now()): Promise<void> {
    if (s.usable || now < s.retryAt || this.closed) return;
    let t: Target;
    try {
      t = await this.source.open(s.path, false);
    } catch (e) {
      const empty = isVdfsError(e, 'NO_DATASTORE') && (await this.source.exists(s.path));
      s.down(empty ? 'empty' : 'missing', empty ? 'present but empty: add it back with `vdfs rebuild`' : (e as Error).message, now);
      return;
    }
    const l = await readLabel(t).catch(() => null);
    if (!l) { await t.close(); s.down('empty', 'no vdfs label: add it back with `vdfs rebuild`', now); return; }
    if (!l.layoutId.equals(this.label.layoutId) || l.index !== s.index || !l.targetId.equals(this.ids[s.index])) {
      await t.close(); s.down('missing', 'holds another layout, another target or a replaced one (use `vdfs rebuild`)', now); return;
    }
    const meta = bestPage(await pageSlots(t, this.g, 0).catch(() => []));
    if (meta && meta.seq > this.seq) {
      // it synced after everything open here: this process runs on an older state; never overwrite the newer one
      await t.close(); s.down('missing', `newer than the open layout (seq ${meta.seq} > ${this.seq}): remount with it present`, now); return;
    }
    await this.serial.run(async () => {
      const from = this.slots.find((x) => x.usable);
      if (!from) { await t.close(); return; }
      s.up(t);
      await this.resync(s, from);
    });
    if (s.usable) this.repair.kick();
  }

  /** One health pass: usable targets still present, down ones tried again when due. */
  async probe(now = Date.now()): Promise<void> {
    for (const s of this.slots) {
      if (s.usable) {
        if (s.target!.present && !(await s.target!.present())) await this.drop(s, 'missing', 'its file was removed or replaced');
      } else {
        await this.tryReturn(s, now);
      }
    }
  }

  private startProbe(): void {
    const tick = () => {
      this.probeTimer = setTimeout(() => { void this.probe().catch(() => undefined).finally(() => { if (!this.closed) tick(); }); }, LIMITS.HEALTH_PROBE_MS);
      this.probeTimer.unref();
    };
    tick();
  }

  /** Segments whose fragments are not all where EC puts them (replicated, or with missing refs). */
  degraded(e: Entry): boolean { return e.mode === Mode.Replicated || e.refs.some((r) => r.missing); }

  status(): LayoutStatus {
    let ec = 0, replicated = 0, missing = 0, replicaChunks = 0;
    for (const [, e] of this.table.live()) {
      if (e.mode === Mode.Ec) ec++; else { replicated++; replicaChunks += e.refs.length; }
      missing += e.refs.filter((r) => r.missing).length;
    }
    const out = this.n - this.online;
    const state = out === 0 && !missing && !replicated ? 'OK' : out > tolerance(this.spec, this.n).targets ? 'UNAVAILABLE' : 'DEGRADED';
    return {
      name: this.name, state, targets: this.slots.map((s) => s.view()),
      segments: { ec, replicated, missingFragments: missing },
      replicaBytes: replicaChunks * this.g.chunkStored,
      freeChunks: this.table.alloc.reduce((n, a) => n + a.freeCount, 0),
      ...this.io.counters, ...this.repair.view(),
    };
  }

  /**
   * What the usable targets hold and can still take. A target whose size or free space cannot be
   * read (its directory removed: statfs names a path) is left out of the estimate and not marked
   * down here: its I/O and the health check decide that. A commit asks (the cleaner's room to
   * grow), and must not fail on it.
   */
  async space(): Promise<{ size: number; available: number }> {
    let avail = Infinity, size = 0;
    for (const s of this.slots) {
      if (!s.usable) continue;
      const got = await Promise.all([s.target!.available(), s.target!.size()]).catch(() => null);
      if (!got) continue;
      avail = Math.min(avail, got[0]);
      size += got[1];
    }
    const share = this.label.k / (this.label.k + this.label.m); // mirror:N is k = 1, m = N − 1
    return { size: Math.round(size * share), available: Number.isFinite(avail) ? Math.floor(avail * this.n * share) : 0 };
  }

  scrub(progress?: Progress): Promise<void> { return this.repair.scrub(progress); }
  rebuild(progress?: Progress): Promise<number> { return this.repair.rebuild(progress); }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    await this.repair.stop();
    for (const s of this.slots) await s.target?.close().catch(() => undefined);
  }

  /** Gives a target this layout's label under a new id (rebuild). */
  labelTarget(s: TargetSlot, targetId: Buffer): Promise<void> {
    return writeLabel(s.target!, { ...this.label, index: s.index, targetId });
  }
}
