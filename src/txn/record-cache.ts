/**
 * Records fetched ahead of their reader: decoded data records that a sequential read asked for
 * before it needed them (fs/read-ahead.ts), kept by pointer, owner and key. Records are
 * immutable, so a pointer names its content: a block rewritten since has a new pointer and
 * misses, and a segment freed and written again holds records of another birth. A demand read
 * takes what is here or joins what is in flight; a failed fetch is forgotten, and the demand
 * read then reads (and reports) for itself. At most `capacity` records, the oldest dropped first.
 */
import type { BlockPtr } from '../format/ptr.js';

export class RecordCache {
  private readonly entries = new Map<string, Promise<Buffer>>(); // insertion order is age
  /** Demand reads served from here, and fetches started. */
  hits = 0;
  fetches = 0;
  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`record cache capacity ${capacity}`);
  }

  static key(p: BlockPtr, owner: bigint, key: bigint): string {
    return `${p.seg}:${p.off}:${p.len}:${p.birth}:${p.checksum}:${owner}:${key}`;
  }

  has(k: string): boolean { return this.entries.has(k); }

  /** Starts `read` for k unless k is here already. */
  fetch(k: string, read: () => Promise<Buffer>): void {
    if (this.entries.has(k)) return;
    this.fetches++;
    const p = read();
    this.entries.set(k, p);
    p.catch(() => { if (this.entries.get(k) === p) this.entries.delete(k); });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** The record fetched for k, or null when there is none or its fetch failed. */
  async take(k: string): Promise<Buffer | null> {
    const p = this.entries.get(k);
    if (!p) return null;
    try {
      const b = await p;
      this.hits++;
      return b;
    } catch {
      return null;
    }
  }
}
