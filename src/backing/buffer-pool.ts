/**
 * Reused I/O buffers of a spread layout. A write builds one stored piece per fragment (units
 * with their checks, about 1 MiB each for a 4 MiB log write to ec:4+2), and a large read reads
 * each role's units into one buffer before assembling them; taking each from a fresh allocation
 * costs page faults and garbage collection (V8 collects on external memory) on every call.
 * Buffers come back here once the target I/O is over, and up to `limit` bytes of them
 * (SPREAD_POOL_BYTES unless told) are kept, by size. The datastore's read buffers (txn/read-loans.ts) use one too.
 */
import { invariant, LIMITS } from '../limits.js';

export class BufferPool {
  private free = new Map<number, Buffer[]>();
  private kept = 0;
  /** Buffers taken that were newly allocated (not given back before). */
  fresh = 0;
  constructor(private limit: number = LIMITS.SPREAD_POOL_BYTES) {}

  /** A buffer of at least `n` bytes (n rounded up to SPREAD_POOL_GRAIN, so reads of nearly one size share), contents undefined. */
  take(n: number): Buffer {
    const size = Math.ceil(n / LIMITS.SPREAD_POOL_GRAIN) * LIMITS.SPREAD_POOL_GRAIN;
    const b = this.free.get(size)?.pop();
    if (!b) { this.fresh++; return Buffer.allocUnsafeSlow(size); }
    this.kept -= size;
    return b;
  }

  /**
   * Gives a buffer back; the caller no longer touches it. When the pool is full, buffers of the
   * size given back least recently go first (after a long write, its piece buffers make room for
   * a read's): a pool full of one size would otherwise leave every other size to fresh
   * allocations.
   */
  give(b: Buffer): void {
    invariant(b.byteOffset === 0 && b.length === b.buffer.byteLength, 'pooled buffers are whole allocations');
    if (b.length > this.limit) return;
    const list = this.free.get(b.length) ?? [];
    this.free.delete(b.length);
    this.free.set(b.length, list); // the newest size is last
    for (const [size, old] of this.free) {
      if (this.kept + b.length <= this.limit) break;
      while (old.length && this.kept + b.length > this.limit) { old.pop(); this.kept -= size; }
      if (!old.length && size !== b.length) this.free.delete(size);
    }
    list.push(b);
    this.kept += b.length;
  }
}
