/**
 * The segment table of a spread layout in memory: where each segment's fragments are (one entry
 * per segment, see spread-format.ts), which pages changed since the last sync, and which chunks
 * of each target are free.
 */
import { invariant, LIMITS } from '../limits.js';
import { VdfsError } from '../errors.js';
import { ChunkAlloc, ChunkKind } from './chunk-alloc.js';
import { bestPage, decodeEntry, encodeEntry, Entry, Geometry, Mode, Ref, sealPage } from './spread-format.js';

export class SegTable {
  readonly entries: (Entry | undefined)[] = [];
  readonly alloc: ChunkAlloc[];
  /** The slot (0 or 1) holding each page's newest version; the next write goes to the other. */
  readonly latest: number[];
  readonly dirty = new Set<number>();
  gen = 0;
  /** Pages in use: 1 + the highest entry page ever written. */
  usedPages = 1;

  constructor(readonly g: Geometry) {
    this.alloc = Array.from({ length: g.l.n }, () => new ChunkAlloc(ChunkAlloc.bandFor(g.chunkStored)));
    this.latest = new Array<number>(g.pages).fill(1);
  }

  pageOf(seg: number): number { return 1 + Math.floor(seg / this.g.entriesPerPage); }

  get(seg: number): Entry | undefined { return this.entries[seg]; }

  set(seg: number, e: Entry): void {
    if (seg >= this.g.l.maxSegments) throw new VdfsError('NO_SPACE', `the layout's table holds ${this.g.l.maxSegments} segments (mkfs --max-segments)`);
    this.entries[seg] = e;
    this.touch(seg);
  }

  touch(seg: number): void {
    const p = this.pageOf(seg);
    this.dirty.add(p);
    if (p >= this.usedPages) this.usedPages = p + 1;
  }

  /** A new chunk on target t for `role` (data roles and the others are kept in bands apart: chunk-alloc.ts). */
  take(t: number, role: number): number { return this.alloc[t].take(this.kindOf(role)); }
  private kindOf(role: number): ChunkKind { return role < this.g.l.k ? ChunkKind.Hot : ChunkKind.Cold; }
  give(refs: Ref[]): void { for (const r of refs) this.alloc[r.target].give(r.chunk); }

  /** The bytes of entry page p (payload only; the caller seals it with its seq). */
  pagePayload(p: number): Buffer {
    invariant(p >= 1, 'entry pages start at 1');
    const b = Buffer.alloc(LIMITS.SPREAD_PAGE - 16);
    const first = (p - 1) * this.g.entriesPerPage;
    for (let i = 0; i < this.g.entriesPerPage; i++) {
      const e = this.entries[first + i];
      if (e) encodeEntry(e, b, i * this.g.entryBytes);
    }
    return b;
  }

  sealed(p: number, seq: bigint): Buffer { return sealPage(seq, this.pagePayload(p)); }

  /** Loads page p from its two stored slots (the valid one with the higher seq wins). */
  load(p: number, slots: Buffer[]): void {
    const best = bestPage(slots);
    if (!best) return;
    this.latest[p] = best.slot;
    const first = (p - 1) * this.g.entriesPerPage;
    for (let i = 0; i < this.g.entriesPerPage; i++) {
      const e = decodeEntry(best.payload, i * this.g.entryBytes);
      if (e.mode === Mode.Free && !e.refs.length) continue;
      this.entries[first + i] = e;
      if (e.gen > this.gen) this.gen = e.gen;
    }
  }

  /** After loading every page: the allocators from the chunks the entries name. */
  rebuildAlloc(): void {
    const used = this.alloc.map(() => new Map<number, ChunkKind>());
    for (const e of this.entries) for (const r of e?.refs ?? []) used[r.target].set(r.chunk, this.kindOf(r.role));
    this.alloc.forEach((a, t) => a.rebuild(used[t]));
  }

  *live(): Generator<[number, Entry]> {
    for (let s = 0; s < this.entries.length; s++) {
      const e = this.entries[s];
      if (e && e.mode !== Mode.Free) yield [s, e];
    }
  }
}
