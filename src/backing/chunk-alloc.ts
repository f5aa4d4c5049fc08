/**
 * Free chunks of one target of a spread layout, kept apart by how they are read. A chunk holds
 * one role of one segment; only the data roles (role < k) are read while every target is well,
 * the others (parity, the extra copies of a mirror) only to rebuild. The kernel reads ahead of
 * a target file's reads (8 MiB on the disks seen here), so a data chunk lying next to a parity
 * chunk had the parity read with it: ec:4+2 on three targets read 1.5 bytes from the disk per
 * byte asked for. Chunks are therefore handed out in bands (SPREAD_BAND_BYTES of chunks): a band takes
 * one kind of chunk (hot: data roles; cold: the rest) from its first chunk until it is empty
 * again, and within a kind the lowest free chunk goes first, then a fresh band past the
 * high-water mark. Which chunk a ref names is in the table, so this is policy, not format:
 * datastores allocated before it keep their mixed bands and read as before.
 */
import { invariant, LIMITS } from '../limits.js';

export const enum ChunkKind { Hot = 0, Cold = 1 }
const NONE = -1;

export class ChunkAlloc {
  private free = new Set<number>();
  /** Per kind: its candidate free chunks, highest first (pop gives the lowest); rebuilt when stale. */
  private order: number[][] = [[], []];
  private stale = false;
  /** Per band: its kind (NONE while it holds no chunk) and how many of its chunks are taken. */
  private kind: number[] = [];
  private used: number[] = [];
  /** Per kind: the band being filled past the high-water mark and its next fresh chunk (-1: none). */
  private fresh = [-1, -1];
  /** 1 + the highest chunk handed out or in use. */
  high = 0;

  /** `band`: chunks a band holds. */
  constructor(private readonly band: number) { invariant(band >= 1, 'a chunk band holds a chunk at least'); }

  /** The chunks of a band for chunks of chunkStored bytes. */
  static bandFor(chunkStored: number): number { return Math.max(1, Math.floor(LIMITS.SPREAD_BAND_BYTES / chunkStored)); }

  take(k: ChunkKind): number {
    const c = this.reuse(k) ?? this.freshChunk(k);
    const b = Math.floor(c / this.band);
    invariant(this.takes(c, k), 'a band holds one kind of chunk');
    this.kind[b] = k;
    this.used[b] = (this.used[b] ?? 0) + 1;
    if (c + 1 > this.high) this.high = c + 1;
    return c;
  }

  give(c: number): void {
    invariant(c < this.high && !this.free.has(c), `chunk ${c} freed once`);
    const b = Math.floor(c / this.band);
    invariant(this.used[b] > 0, 'a freed chunk was taken');
    if (--this.used[b] === 0) this.kind[b] = NONE;
    this.free.add(c);
    this.stale = true;
  }

  /** After loading: every chunk below the high-water mark not in `used` is free; a band's kind is its chunks' (the first seen wins in a mixed one). */
  rebuild(used: Map<number, ChunkKind>): void {
    let high = 0;
    for (const c of used.keys()) if (c + 1 > high) high = c + 1;
    this.high = high;
    this.free = new Set();
    this.kind = [];
    this.used = [];
    this.fresh = [-1, -1];
    for (const [c, k] of used) {
      const b = Math.floor(c / this.band);
      if (this.kindAt(c) === NONE) this.kind[b] = k;
      this.used[b] = (this.used[b] ?? 0) + 1;
    }
    for (let c = 0; c < high; c++) if (!used.has(c)) this.free.add(c);
    this.stale = true;
  }

  get freeCount(): number { return this.free.size; }

  /** The kind of the band chunk c lies in (NONE: it holds no chunk). */
  private kindAt(c: number): number { return this.kind[Math.floor(c / this.band)] ?? NONE; }

  /** Whether chunk c's band may take a chunk of kind k. */
  private takes(c: number, k: ChunkKind): boolean { const bk = this.kindAt(c); return bk === NONE || bk === k; }

  /** The lowest free chunk below the high-water mark in a band of kind k or of none. */
  private reuse(k: ChunkKind): number | null {
    if (this.stale) this.sortFree();
    const order = this.order[k];
    for (let c = order.pop(); c !== undefined; c = order.pop()) {
      if (this.free.has(c) && this.takes(c, k)) { this.free.delete(c); return c; }
    }
    return null;
  }

  private sortFree(): void {
    this.order = [[], []];
    for (const c of [...this.free].sort((a, b) => b - a)) {
      for (const k of [ChunkKind.Hot, ChunkKind.Cold]) if (this.takes(c, k)) this.order[k].push(c);
    }
    this.stale = false;
  }

  /** The next chunk of kind k's band past the high-water mark, opening a new band when that one is full (or another kind took it over). */
  private freshChunk(k: ChunkKind): number {
    const f = this.fresh[k];
    if (f >= 0 && f % this.band !== 0 && this.takes(f, k)) { this.fresh[k] = f + 1; return f; }
    const start = Math.ceil(Math.max(this.high, this.fresh[1 - k]) / this.band) * this.band;
    this.fresh[k] = start + 1;
    return start;
  }
}
