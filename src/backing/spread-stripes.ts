/**
 * Cutting a spread layout's segment writes into stripes. A write is the concatenation of its
 * parts (the log's records, as the appender hands them over: no joined copy); a whole stripe of
 * it becomes k unit views into those parts, and only a unit that straddles two parts, or a stripe
 * the write covers in part, is copied. A stripe covered in part waits in memory (`PendingStripe`)
 * until later writes fill it or the next sync writes it out zero-padded.
 */
import { invariant } from '../limits.js';

/** One whole stripe to write: its k data units, each `unit` bytes, held until its writes are done. */
export interface Stripe { stripe: number; units: Buffer[] }

/** A stripe being filled: `buf` is the stripe's data (zeros where nothing was written yet). */
export interface PendingStripe { stripe: number; buf: Buffer; filled: number }

export interface StripeShape {
  /** Data bytes of a stripe (k units). */
  stripeData: number;
  unit: number;
  segmentSize: number;
}

/** The units of a pending stripe, now whole (filled, or padded with zeros). */
export function unitsOf(p: PendingStripe, unit: number): Stripe {
  const n = p.buf.length / unit;
  return { stripe: p.stripe, units: Array.from({ length: n }, (_, r) => p.buf.subarray(r * unit, (r + 1) * unit)) };
}

/** A read cursor over the concatenation of buffers. */
class Cursor {
  private i = 0;
  private at = 0;
  /**
   * Where straddling units are joined: taken on first use, room for one per boundary between
   * parts but no more than the write has units (compressed records can be a few hundred bytes
   * each: thousands of parts in a 4 MiB write).
   */
  joined: Buffer | null = null;
  private joinedAt = 0;
  private room: number;
  constructor(private parts: Buffer[], total: number, private take: (n: number) => Buffer, private unit: number) {
    this.room = Math.min(parts.length, Math.ceil(total / unit) + 1) * unit;
  }

  /** The next n bytes as one buffer: a view into a part where they lie in one, else copied. */
  view(n: number): Buffer {
    this.skipEmpty();
    const p = this.parts[this.i];
    if (p && p.length - this.at >= n) {
      const v = p.subarray(this.at, this.at + n);
      this.advance(n);
      return v;
    }
    invariant(n <= this.unit, 'only units are joined');
    if (!this.joined) this.joined = this.take(this.room);
    invariant(this.joinedAt + n <= this.joined.length, 'one joined unit per boundary between parts');
    const v = this.joined.subarray(this.joinedAt, this.joinedAt + n);
    this.joinedAt += n;
    this.copyTo(v, 0, n);
    return v;
  }

  /** Copies the next n bytes to out at `to`. */
  copyTo(out: Buffer, to: number, n: number): void {
    while (n > 0) {
      this.skipEmpty();
      const p = this.parts[this.i];
      invariant(p !== undefined, 'a write covers the bytes it is cut into');
      const c = Math.min(n, p.length - this.at);
      p.copy(out, to, this.at, this.at + c);
      to += c; n -= c;
      this.advance(c);
    }
  }

  private advance(n: number): void {
    this.at += n;
    this.skipEmpty();
  }

  private skipEmpty(): void {
    while (this.i < this.parts.length && this.at >= this.parts[this.i].length) { this.i++; this.at = 0; }
  }
}

/**
 * Cuts the write of `parts` at `off` of segment `seg` into the stripes it completes, in order
 * (contiguous: a stripe left pending by an earlier write comes first). `pending` holds the
 * segment's partly covered stripe (at most one: writes of a segment only go forward); `take`
 * gives a buffer to join straddling units in, returned as `joined` for the caller to give back
 * once the stripes are written.
 */
export function cutStripes(shape: StripeShape, pending: Map<number, PendingStripe>, seg: number, off: number, parts: Buffer[],
  take: (n: number) => Buffer): { full: Stripe[]; joined: Buffer | null } {
  const { stripeData: SW, unit, segmentSize } = shape;
  const total = parts.reduce((n, p) => n + p.length, 0);
  invariant(off + total <= segmentSize, 'a segment write stays inside the segment');
  const k = SW / unit;
  const cur = new Cursor(parts, total, take, unit);
  const full: Stripe[] = [];
  for (let i = 0, x = off; i < total;) {
    const stripe = Math.floor(x / SW), at = x % SW, n = Math.min(SW - at, total - i);
    let p = pending.get(seg);
    if (p && p.stripe !== stripe) { full.push(unitsOf(p, unit)); pending.delete(seg); p = undefined; }
    if (!p && at === 0 && n === SW) {
      full.push({ stripe, units: Array.from({ length: k }, () => cur.view(unit)) });
    } else {
      if (!p) { p = { stripe, buf: Buffer.alloc(SW), filled: 0 }; pending.set(seg, p); }
      cur.copyTo(p.buf, at, n);
      p.filled = Math.max(p.filled, at + n);
      if (p.filled === Math.min(SW, segmentSize - stripe * SW)) { full.push(unitsOf(p, unit)); pending.delete(seg); }
    }
    i += n; x += n;
  }
  return { full, joined: cur.joined };
}
