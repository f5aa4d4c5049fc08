/**
 * The cleaner's whole-block reads for a segment's folds (fs/cleaner.ts: a base and its
 * sub-blocks, wherever they are), up to CLEAN_FOLD_READS at once while the segment's other
 * records are judged, rather than one after another inside the commit (an aged vdisk's commits
 * fold ~50 blocks each). `settled` is false when one was unreadable.
 */
import { LIMITS } from '../limits.js';

export class FoldReads {
  private reads = new Set<Promise<void>>();
  private unreadable = false;
  private failure: unknown = null;

  /** Starts a read once fewer than the limit are in flight; `use` takes what it got (not 'unreadable'). */
  async start<T>(read: () => Promise<T | 'unreadable'>, use: (got: T) => void): Promise<void> {
    while (this.reads.size >= LIMITS.CLEAN_FOLD_READS) await Promise.race(this.reads);
    const p: Promise<void> = read().then((got) => { if (got === 'unreadable') this.unreadable = true; else use(got); })
      .catch((e: unknown) => { this.failure ??= e; }).finally(() => this.reads.delete(p));
    this.reads.add(p);
  }

  /** Waits for every read; throws what one threw; false when one was unreadable. */
  async settled(): Promise<boolean> {
    await Promise.all(this.reads);
    if (this.failure) throw this.failure;
    return !this.unreadable;
  }
}
