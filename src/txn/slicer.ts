/**
 * Cooperative slicing of long work on the event loop: a commit's map updates, node encoding and
 * record framing, and the cleaner's segment plans, call pause() between items, and once `ms`
 * have passed since the last yield it yields a turn (setImmediate), so FUSE requests that
 * arrived meanwhile are served between slices instead of waiting for the whole commit. The
 * work done is the same; only its order with the requests changes (commits already interleave
 * with requests wherever they wait for I/O).
 */
export class Slicer {
  private since = performance.now();
  /** Turns yielded. */
  yields = 0;
  /** `ms`: the longest slice (0: yield at every pause). */
  constructor(private readonly ms: number) {}

  /** Undefined while within the slice (awaiting it costs a microtask), else a turn of the event loop. */
  pause(): Promise<void> | undefined {
    if (performance.now() - this.since < this.ms) return undefined;
    this.yields++;
    return new Promise<void>((resolve) => setImmediate(() => { this.since = performance.now(); resolve(); }));
  }
}
