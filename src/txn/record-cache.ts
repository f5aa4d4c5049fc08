/**
 * Records fetched ahead of their reader: decoded data records that a sequential read asked for
 * before it needed them (fs/read-ahead.ts), kept by pointer, owner and key. Records are
 * immutable, so a pointer names its content: a block rewritten since has a new pointer and
 * misses, and a segment freed and written again holds records of another birth. A demand read
 * takes what is here or joins what is in flight; a failed fetch is forgotten, and the demand
 * read then reads (and reports) for itself.
 *
 * Bounds: at most `capacity` records, and at most `pinnedBytes` of the runs they were read in
 * (a record is a slice of its run's buffer, which stays in memory while any record of it is
 * here). Past a bound, records already taken go first (oldest taken first): a taken record is
 * kept only for a reader of another part of its block (4 KiB reads of a 32 KiB block), and only
 * `takenCapacity` of them (each holds its run, and a 1 MiB read takes its records once), while one
 * not yet taken was fetched for a reader on its way — dropping it would read it again. A record
 * not taken while READ_AHEAD_UNTAKEN_CAPACITIES × `capacity` later ones were fetched is not waited for any more (a block
 * rewritten, or a reader that stopped) and goes before any taken one.
 *
 * A run read into a loaned buffer (txn/read-loans.ts) is held by each of its records here, and
 * a record taken from it counts as handed out from the moment it is taken (before its decode
 * settles, so the buffer cannot go back between the decode and the taker).
 */
import type { BlockPtr } from '../format/ptr.js';
import { LIMITS } from '../limits.js';
import type { Loan, ReadLoans } from './read-loans.js';

/** The buffer a run of records was read into, shared by the records fetched from it (a loan's, when it is one). */
export interface Run { bytes: number; held: number; loan?: Loan }

interface Entry { p: Promise<Buffer>; seq: number; run?: Run }

export class RecordCache {
  /** Fetched, not yet taken; insertion order is age. */
  private readonly fresh = new Map<string, Entry>();
  /** Taken at least once; insertion order is when last taken. */
  private readonly taken = new Map<string, Entry>();
  private pinned = 0;
  /** Demand reads served from here, fetches started, and fetched records dropped before any reader took them. */
  hits = 0;
  fetches = 0;
  dropped = 0;
  /** `takenCapacity`: records already taken kept at most (the rest of the capacity is for records on their way to a reader). */
  constructor(readonly capacity: number, readonly pinnedBytes = Infinity, private loans?: ReadLoans, readonly takenCapacity = capacity) {
    if (!(capacity >= 1)) throw new RangeError(`record cache capacity ${capacity}`);
  }

  static key(p: BlockPtr, owner: bigint, key: bigint): string {
    return `${p.seg}:${p.off}:${p.len}:${p.birth}:${p.checksum}:${owner}:${key}`;
  }

  has(k: string): boolean { return this.fresh.has(k) || this.taken.has(k); }

  /** Bytes of runs held by the records here. */
  get pinnedNow(): number { return this.pinned; }
  get size(): number { return this.fresh.size + this.taken.size; }

  /** Starts `read` for k unless k is here already; `run` is the buffer it is a slice of, when shared. */
  fetch(k: string, read: () => Promise<Buffer>, run?: Run): void {
    if (this.has(k)) return;
    const e: Entry = { p: read(), seq: ++this.fetches, run };
    this.fresh.set(k, e);
    if (run && run.held++ === 0) this.pinned += run.bytes;
    if (run?.loan) this.loans!.hold(run.loan);
    e.p.catch(() => { if (this.fresh.get(k) === e) this.remove(this.fresh, k); if (this.taken.get(k) === e) this.remove(this.taken, k); });
    while (this.size > this.capacity || (this.pinned > this.pinnedBytes && this.size > 1)) this.evictOne();
  }

  private evictOne(): void {
    const [oldFresh, e] = this.fresh.entries().next().value ?? [];
    const stale = e && e.seq <= this.fetches - LIMITS.READ_AHEAD_UNTAKEN_CAPACITIES * this.capacity;
    if (this.taken.size && !stale) { this.remove(this.taken, this.taken.keys().next().value as string); return; }
    this.remove(this.fresh, oldFresh as string);
    this.dropped++;
  }

  private remove(m: Map<string, Entry>, k: string): void {
    const e = m.get(k);
    if (!e) return;
    m.delete(k);
    if (e.run && --e.run.held === 0) this.pinned -= e.run.bytes;
    if (e.run?.loan) this.loans!.release(e.run.loan);
  }

  /** The record fetched for k, or null when there is none or its fetch failed. */
  async take(k: string): Promise<Buffer | null> {
    const e = this.fresh.get(k) ?? this.taken.get(k);
    if (!e) return null;
    this.fresh.delete(k);
    this.taken.delete(k);
    this.taken.set(k, e);
    while (this.taken.size > this.takenCapacity) this.remove(this.taken, this.taken.keys().next().value as string);
    const loan = e.run?.loan;
    if (loan) loan.out++;
    try {
      const b = await e.p;
      this.hits++;
      if (loan && b.buffer !== loan.buf.buffer) this.loans!.unhand(loan); // decoded into a buffer of its own
      return b;
    } catch {
      if (loan) this.loans!.unhand(loan);
      return null;
    }
  }
}
