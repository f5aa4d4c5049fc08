/**
 * Reused read buffers. A data record read from the log is a slice of the buffer it was read
 * into: a run of records fetched ahead (up to READ_AHEAD_RUN_BYTES) or one record read on
 * demand. A fresh buffer per read cost V8 a full collection for about every 64 MiB read (it
 * collects on external memory) and the page faults of new memory: a 4 KiB random read reads a
 * 32 KiB record. Here a buffer goes back to a pool (READ_POOL_BYTES) once nothing can reach its
 * bytes:
 *
 * - `live` is 0: the reader that opened the loan is done with it (its read is over and every
 *   record of it decoded), and no record of it is in the read-ahead cache;
 * - `out` is 0: every record of it handed to a reader (RecordCache.take, or a demand read) came
 *   back (`returned`), which only a holder that no longer touches it says: the kernel binding
 *   once a READ reply holding its slice is written, or a caller that copied it.
 *
 * A record handed to anyone else (a restore, a partial write's fill, the cleaner) never comes
 * back, so its buffer is never reused and the collector frees it as before. The one rule that
 * keeps reuse safe: a handout comes back at most once (fs/data.ts readPieces makes one piece of
 * one block's record per READ; a reply's pieces come back once, after its write).
 */
import { BufferPool } from '../backing/buffer-pool.js';
import { invariant, LIMITS } from '../limits.js';

export class Loan {
  /** Holds by the opener and by records of it in the read-ahead cache. */
  live = 1;
  /** Records of it handed out that have not come back. */
  out = 0;
  constructor(readonly buf: Buffer) {}
}

export class ReadLoans {
  private pool = new BufferPool(LIMITS.READ_POOL_BYTES);
  private of = new WeakMap<ArrayBufferLike, Loan>();
  private opened = 0;
  private back = 0;

  /** Loans opened, of them on a buffer used before (not newly allocated), and loans whose buffer went back to the pool. */
  get counters(): { opened: number; reused: number; back: number } {
    return { opened: this.opened, reused: this.opened - this.pool.fresh, back: this.back };
  }

  /** A loan of at least n bytes (its `buf` may be longer), held once by the caller: `release` it when done reading. */
  open(n: number): Loan {
    const l = new Loan(this.pool.take(n));
    this.opened++;
    this.of.set(l.buf.buffer, l);
    return l;
  }

  /** A buffer of n bytes handed straight to a reader (one handout): it is lent again once it comes back. */
  lendOut(n: number): Buffer {
    const l = this.open(n), buf = l.buf.subarray(0, n);
    this.handOut(buf);
    this.release(l);
    return buf;
  }

  hold(l: Loan): void { invariant(l.live > 0, 'a loan held after it went back'); l.live++; }
  release(l: Loan): void { invariant(l.live > 0, 'a loan released twice'); l.live--; this.settle(l); }

  /** `rec` goes to a reader; counted when it is a slice of a loan. */
  handOut(rec: Buffer): void {
    const l = this.of.get(rec.buffer);
    if (l) l.out++;
  }

  /** A handout counted before its record was known that is not a slice of `l` after all (decoded into a copy, or failed). */
  unhand(l: Loan): void {
    invariant(l.out > 0, 'a handout taken back that was not counted');
    l.out--;
    this.settle(l);
  }

  /** Handed-out records (or slices of them: one per handout) their holder no longer touches. */
  returned(pieces: readonly Buffer[]): void {
    for (const p of pieces) {
      const l = this.of.get(p.buffer);
      if (!l) continue;
      invariant(l.out > 0, 'a read buffer came back more often than it was handed out');
      l.out--;
      this.settle(l);
    }
  }

  private settle(l: Loan): void {
    if (l.live > 0 || l.out > 0) return;
    this.of.delete(l.buf.buffer);
    this.back++;
    this.pool.give(l.buf);
  }
}
