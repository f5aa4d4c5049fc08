/**
 * A backing target that loses power: writes are kept aside until a sync makes them durable; at
 * a chosen sync the power fails (the sync and everything after it throw) and the writes still
 * pending can be dropped, applied or torn to build the image a reboot would find.
 */
import type { Target } from '../../src/backing/target.js';
import { MemTarget } from '../../src/backing/target.js';
import { EmulatedDirect } from '../../src/backing/direct.js';

export interface PendingWrite { off: number; data: Buffer }

export class PowerLossTarget implements Target {
  readonly durable = new MemTarget();
  pending: PendingWrite[] = [];
  syncs = 0;
  lost = false;
  /** With `direct` (VDFS_DIRECT=1's path): direct writes are pending writes like any other (torn, dropped or applied by a crash). */
  readonly direct?: EmulatedDirect;
  constructor(private failAtSync: number | null = null, direct = false) {
    if (direct) this.direct = new EmulatedDirect((off, data) => this.write(off, data));
  }

  async read(off: number, len: number): Promise<Buffer> {
    const out = await this.durable.read(off, len);
    for (const w of this.pending) {
      const from = Math.max(off, w.off), to = Math.min(off + len, w.off + w.data.length);
      if (from < to) w.data.copy(out, from - off, from - w.off, to - w.off);
    }
    return out;
  }
  async write(off: number, data: Buffer): Promise<void> {
    this.alive();
    this.pending.push({ off, data: Buffer.from(data) });
  }
  async sync(): Promise<void> {
    this.alive();
    this.syncs++;
    if (this.syncs === this.failAtSync) { this.lost = true; throw new Error(`power lost at sync ${this.syncs}`); }
    for (const w of this.pending) await this.durable.write(w.off, w.data);
    this.pending = [];
  }
  /** O_DSYNC: this write alone is durable on return; a power loss during it (counted as a sync) may tear or drop it. */
  async writeDurable(off: number, data: Buffer): Promise<void> {
    this.alive();
    this.syncs++;
    const w = { off, data: Buffer.from(data) };
    this.pending.push(w);
    if (this.syncs === this.failAtSync) { this.lost = true; throw new Error(`power lost at durable write ${this.syncs}`); }
    await this.durable.write(off, w.data);
    this.pending = this.pending.filter((x) => x !== w);
  }
  async size(): Promise<number> {
    return Math.max(await this.durable.size(), ...this.pending.map((w) => w.off + w.data.length));
  }
  async available(): Promise<number> { return 1 << 30; }
  async close(): Promise<void> {}
  private alive(): void { if (this.lost) throw new Error('power is off'); }
}

/** The images a reboot may find: each a list of (possibly torn) pending writes applied to the durable bytes. */
export function crashImages(durable: Buffer, pending: PendingWrite[], r: () => number): { name: string; image: Buffer }[] {
  const build = (writes: PendingWrite[]) => {
    const end = Math.max(durable.length, ...writes.map((w) => w.off + w.data.length));
    const img = Buffer.alloc(end);
    durable.copy(img);
    for (const w of writes) w.data.copy(img, w.off);
    return img;
  };
  const out = [{ name: 'drop all', image: build([]) }, { name: 'apply all', image: build(pending) }];
  pending.forEach((w, i) => {
    for (const sector of [512, 4096]) {
      const sectors = Math.ceil(w.data.length / sector);
      // torn in order: the first half of its sectors reached the disk, nothing after it
      const half = Math.max(1, Math.floor(sectors / 2)) * sector;
      out.push({ name: `write ${i} torn at ${sector} B (prefix)`, image: build([...pending.slice(0, i), { off: w.off, data: w.data.subarray(0, half) }]) });
      // torn out of order: a random subset of its sectors, everything else pending applied
      const parts: PendingWrite[] = [];
      for (let s = 0; s < sectors; s++) if (r() < 0.5) parts.push({ off: w.off + s * sector, data: w.data.subarray(s * sector, (s + 1) * sector) });
      out.push({ name: `write ${i} torn at ${sector} B (scattered)`, image: build([...pending.filter((_, j) => j !== i), ...parts]) });
    }
  });
  for (let k = 0; k < 4; k++) {
    out.push({ name: `random subset ${k}`, image: build(pending.filter(() => r() < 0.5)) });
  }
  return out;
}

/**
 * Checks every crash image of a target that lost power: `check` opens one and names its outcome
 * (one of `counts`' keys) or says what is wrong, which fails the test. Counts images, failures
 * and each outcome in `counts`.
 */
export async function checkImages(t: { fail(msg: string): void }, where: string, target: PowerLossTarget, r: () => number,
  counts: Record<string, number> & { images: number; failures: number }, check: (mem: MemTarget) => Promise<string>): Promise<void> {
  for (const { name, image } of crashImages(target.durable.bytes, target.pending, r)) {
    counts.images++;
    const mem = new MemTarget();
    mem.bytes = image;
    const why = await check(mem);
    if (why in counts && why !== 'images' && why !== 'failures') counts[why]++;
    else { counts.failures++; t.fail(`${where}, ${name}: ${why}`); }
  }
}
