/**
 * Reused dirty-block buffers. Every write into a block not yet dirty takes a whole block (with
 * room for its record header: codec/record.ts framedBuffer); a fresh one each time cost V8 a
 * full collection for about every 64 MiB written (it collects on external memory: 49 in 7 s of
 * 1 MiB sequential writes, a third of the daemon's CPU on the collector's threads). Once the
 * commit that wrote a block is durable and its dirty set is dropped, the block comes back here
 * (up to DIRTY_POOL_BYTES of them) unless anyone else may still hold it:
 *
 * - a block returned to a reader (fs/data.ts wholeBlock: a READ's reply pieces, a partial
 *   block's fill, a restore) is marked `lent` and never reused: the collector frees it;
 * - a block not made here (the cleaner's, a truncation's tail) is never taken in.
 *
 * Records framed in place in a block are written by the commit before it is durable, and
 * nothing keeps them after (the read caches hold records read from the log, not dirty blocks).
 */
import { framedBuffer } from '../codec/record.js';
import { invariant, LIMITS } from '../limits.js';

/**
 * Where each block a pool made is: out (in a dirty set), lent (handed to a reader: never reused)
 * or pooled (a block given back twice is taken in once). Blocks not here were not made by a pool.
 */
const STATE = new WeakMap<Buffer, 'out' | 'lent' | 'pooled'>();

/** Says that `b` (a dirty block) went to someone who may keep it: it is never reused. */
export function lent(b: Buffer): void { if (STATE.has(b)) STATE.set(b, 'lent'); }

export class DirtyBlocks {
  private free: Buffer[] = [];
  /** Blocks taken that were newly allocated, and that were reused. */
  readonly counters = { fresh: 0, reused: 0 };

  constructor(private readonly blockSize: number, private readonly limit: number = LIMITS.DIRTY_POOL_BYTES) {}

  /** A framed block of blockSize bytes, zeroed when asked (else its contents are undefined). */
  take(zero: boolean): Buffer {
    const b = this.free.pop();
    if (b) { STATE.set(b, 'out'); this.counters.reused++; return zero ? b.fill(0) : b; }
    this.counters.fresh++;
    const fresh = framedBuffer(this.blockSize, zero);
    STATE.set(fresh, 'out');
    return fresh;
  }

  /** The blocks of a dirty set whose commit is durable and that nothing reaches any more. */
  recycle(blocks: Iterable<Buffer>): void {
    for (const b of blocks) {
      if (STATE.get(b) !== 'out') continue;
      if ((this.free.length + 1) * this.blockSize > this.limit) return;
      invariant(b.length === this.blockSize, 'a pooled dirty block is one block');
      STATE.set(b, 'pooled');
      this.free.push(b);
    }
  }
}
