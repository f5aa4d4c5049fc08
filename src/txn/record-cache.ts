/**
 * Records fetched ahead of their reader: decoded data records that a sequential read asked for
 * before it needed them (fs/read-ahead.ts), kept by pointer, owner and key. Records are
 * immutable, so a pointer names its content: a block rewritten since has a new pointer and
 * misses, and a segment freed and written again holds records of another birth. A demand read
 * takes what is here or joins what is in flight; a failed fetch is forgotten, and the demand
 * read then reads (and reports) for itself. At most `capacity` records. Past it, records already
 * taken go first (oldest taken first): a taken record is kept only for a reader of another part
 * of its block (4 KiB reads of a 32 KiB block), while one not yet taken was fetched for a reader
 * on its way — dropping it would read it again. Only when every record is untaken does the
 * oldest fetched go.
 */
import type { BlockPtr } from '../format/ptr.js';

export class RecordCache {
  /** Fetched, not yet taken; insertion order is age. */
  private readonly fresh = new Map<string, Promise<Buffer>>();
  /** Taken at least once; insertion order is when last taken. */
  private readonly taken = new Map<string, Promise<Buffer>>();
  /** Demand reads served from here, fetches started, and fetched records dropped before any reader took them. */
  hits = 0;
  fetches = 0;
  dropped = 0;
  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`record cache capacity ${capacity}`);
  }

  static key(p: BlockPtr, owner: bigint, key: bigint): string {
    return `${p.seg}:${p.off}:${p.len}:${p.birth}:${p.checksum}:${owner}:${key}`;
  }

  has(k: string): boolean { return this.fresh.has(k) || this.taken.has(k); }

  /** Starts `read` for k unless k is here already. */
  fetch(k: string, read: () => Promise<Buffer>): void {
    if (this.has(k)) return;
    this.fetches++;
    const p = read();
    this.fresh.set(k, p);
    p.catch(() => { if (this.fresh.get(k) === p) this.fresh.delete(k); if (this.taken.get(k) === p) this.taken.delete(k); });
    while (this.fresh.size + this.taken.size > this.capacity) {
      if (this.taken.size) { this.taken.delete(this.taken.keys().next().value as string); continue; }
      this.fresh.delete(this.fresh.keys().next().value as string);
      this.dropped++;
    }
  }

  /** The record fetched for k, or null when there is none or its fetch failed. */
  async take(k: string): Promise<Buffer | null> {
    const p = this.fresh.get(k) ?? this.taken.get(k);
    if (!p) return null;
    this.fresh.delete(k);
    this.taken.delete(k);
    this.taken.set(k, p);
    try {
      const b = await p;
      this.hits++;
      return b;
    } catch {
      return null;
    }
  }
}
