/**
 * Segment space: live bytes per segment, the free pool, and read pins.
 *
 * `live[s]` counts every live record in segment s except the segment-usage tree's own nodes,
 * which are counted in `metaLive[s]` (they are not stored in the tree they describe; open()
 * recounts them by walking that tree). A segment whose count drops to zero is released only
 * after the commit that emptied it is durable, and never while a reader pins it.
 */
import { invariant } from '../limits.js';

export class SegmentSpace {
  live: number[] = [];
  metaLive: number[] = [];
  /** Segments whose `live` changed since the last commit (their tree entries are rewritten). */
  changed = new Set<number>();
  private free: number[] = [];
  private emptied = new Set<number>();
  private pins = new Map<number, number>();

  constructor(public segCount: number, readonly segmentSize: number) {
    for (let s = 0; s < segCount; s++) { this.live.push(0); this.metaLive.push(0); }
  }

  /** After open: every segment with nothing live and not `open` is free. */
  rebuildFree(openSeg: number): void {
    this.free = [];
    for (let s = this.segCount - 1; s >= 0; s--) if (s !== openSeg && this.isEmpty(s)) this.free.push(s);
  }

  isEmpty(s: number): boolean { return this.live[s] === 0 && this.metaLive[s] === 0; }

  add(seg: number, len: number, meta = false): void {
    invariant(seg < this.segCount, 'segment in range');
    if (meta) this.metaLive[seg] += len;
    else { this.live[seg] += len; this.changed.add(seg); }
  }

  release(seg: number, len: number, meta = false): void {
    invariant(seg < this.segCount, 'segment in range');
    if (meta) this.metaLive[seg] -= len;
    else { this.live[seg] -= len; this.changed.add(seg); }
    invariant(this.live[seg] >= 0 && this.metaLive[seg] >= 0, `segment ${seg} live bytes stay non-negative`);
    if (this.isEmpty(seg)) this.emptied.add(seg);
  }

  /** A segment for new appends: the lowest free one, or a new one at the end. */
  take(): number {
    for (;;) {
      const s = this.free.pop();
      if (s === undefined) break;
      if (this.isEmpty(s) && !this.pins.has(s)) return s;
      if (this.isEmpty(s)) this.emptied.add(s); // pinned: retry after a later commit
    }
    this.live.push(0); this.metaLive.push(0);
    return this.segCount++;
  }

  /**
   * Keeps segment s out of the free pool although nothing live is in it (an oplog chain's, read
   * back at open): it may lie past segCount (taken after the last commit), which then grows.
   */
  hold(s: number): void {
    while (s >= this.segCount) { this.live.push(0); this.metaLive.push(0); this.segCount++; }
    this.free = this.free.filter((x) => x !== s);
    this.emptied.delete(s);
  }

  /** A segment taken or held with nothing live in it (an oplog chain's) goes back to the pool after the next durable commit. */
  letGo(s: number): void { if (this.isEmpty(s)) this.emptied.add(s); }

  /** Called once a commit is durable: segments it emptied become reusable. */
  commitDone(openSeg: number): void {
    for (const s of [...this.emptied]) {
      if (s === openSeg || this.pins.has(s)) continue; // retried after a later commit
      this.emptied.delete(s);
      if (this.isEmpty(s)) this.free.push(s);
    }
    this.free.sort((a, b) => b - a); // pop() gives the lowest
  }

  isPinned(seg: number): boolean { return this.pins.has(seg); }
  pin(seg: number): void { this.pins.set(seg, (this.pins.get(seg) ?? 0) + 1); }
  unpin(seg: number): void {
    const n = (this.pins.get(seg) ?? 0) - 1;
    if (n <= 0) this.pins.delete(seg); else this.pins.set(seg, n);
  }

  usedBytes(): number {
    let t = 0;
    for (let s = 0; s < this.segCount; s++) t += this.live[s] + this.metaLive[s];
    return t;
  }
  freeSegments(): number { return this.free.length; }
}
