/**
 * How a commit writes its log: through the page cache (one buffered writev per chunk), or
 * directly (O_DIRECT from reused staging buffers, backing/direct.ts). Which is faster depends on
 * the machine (native-notes/direct-writes.md): on the VMs CI runs on, sequential 1 MiB writes
 * through the mount ran ~25% faster direct; on another VM Node's direct writes ran at half the
 * buffered speed, for reasons not known. So by default (`auto`) the commits measure both:
 *
 * - a commit its freeze estimates at DIRECT_SAMPLE_BYTES or more (the same estimate that sends it
 *   the measured way) is a sample: the bytes it appended over the time from its first append to
 *   the end of its sync, counted for the way it actually wrote (a direct commit that could get no
 *   staging buffer wrote buffered);
 * - the first such commit after the way changes is not weighed, so that what the other way left
 *   behind (the disk's cache, the file system's pending metadata) is not charged to it;
 * - first DIRECT_SAMPLES samples are taken direct, then as many buffered;
 * - then the way with the higher median rate is used, and after every DIRECT_REPROBE_SAMPLES
 *   samples the other way gets DIRECT_SAMPLES more, so that a change (another load, a busier
 *   disk) is seen; each way keeps its newest DIRECT_SAMPLES rates.
 *
 * Smaller commits (random writes: their time is the commit's own work, not the writes) are
 * not measured, and stay buffered as they were before commits chose: a direct write leaves
 * nothing in the page cache for the reads of those records that follow (a partial block's
 * fill, the cleaner). `VDFS_DIRECT=1` makes every commit direct, `=0` none.
 * Both ways write the same bytes to the same offsets (a direct chunk is padded only past its
 * extent's end), so they mix freely in one datastore.
 */
import { LIMITS } from '../limits.js';

export type DirectPolicy = 'always' | 'never' | 'auto';

/** The policy the daemon's environment asks for: VDFS_DIRECT=1 always, =0 never, otherwise auto. */
export function directPolicy(env: NodeJS.ProcessEnv = process.env): DirectPolicy {
  return env.VDFS_DIRECT === '1' ? 'always' : env.VDFS_DIRECT === '0' ? 'never' : 'auto';
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export class WriteMode {
  /** Rates (bytes per ms) of the newest samples: [buffered, direct]. */
  private rates: [number[], number[]] = [[], []];
  /** The way large commits go now, and whether the last large commit went another way. */
  private way = true;
  private switched = true;
  /** Samples taken the chosen way since the other way was last measured; samples left of a remeasure. */
  private sinceProbe = 0;
  private probing = 0;
  readonly stats = { samples: 0, directCommits: 0, bufferedCommits: 0 };

  constructor(readonly policy: DirectPolicy) {}

  /** Whether a commit expected to append about `bytes` writes its log directly (where the layout can). */
  direct(bytes: number): boolean {
    if (this.policy !== 'auto') return this.policy === 'always';
    return bytes >= LIMITS.DIRECT_SAMPLE_BYTES && this.way;
  }

  /**
   * A commit done: whether it wrote directly (any of its log), what its freeze estimated (as given
   * to direct()), the bytes it appended and the ms from its first append to the end of its sync.
   */
  record(direct: boolean, expected: number, bytes: number, ms: number): void {
    this.stats[direct ? 'directCommits' : 'bufferedCommits']++;
    // not a sample: a small commit, or one that did not write the way it was sent (no staging buffer)
    if (this.policy !== 'auto' || expected < LIMITS.DIRECT_SAMPLE_BYTES || direct !== this.way) return;
    if (this.switched) { this.switched = false; return; }
    const rates = this.rates[direct ? 1 : 0];
    rates.push(bytes / Math.max(ms, 0.001));
    if (rates.length > LIMITS.DIRECT_SAMPLES) rates.shift();
    this.stats.samples++;
    this.go(this.next());
  }

  /** The way the next large commit goes, after a sample. */
  private next(): boolean {
    const n = LIMITS.DIRECT_SAMPLES;
    if (this.rates[+this.way].length < n) return this.way; // learning: this way until it has its samples,
    if (this.rates[+!this.way].length < n) return !this.way; // then the other
    if (this.probing > 0) return --this.probing > 0 ? this.way : this.best();
    if (++this.sinceProbe >= LIMITS.DIRECT_REPROBE_SAMPLES) {
      this.sinceProbe = 0;
      this.probing = n;
      return !this.best();
    }
    return this.best();
  }

  /** The way with the higher median rate (direct on a tie). */
  private best(): boolean { return median(this.rates[1]) >= median(this.rates[0]); }

  private go(way: boolean): void {
    if (way !== this.way) this.switched = true;
    this.way = way;
  }

  /** For status: the policy, the way large commits go now, and each way's median rate (MiB/s; 0 until measured). */
  status(): { policy: DirectPolicy; direct: boolean; directMiBs: number; bufferedMiBs: number; samples: number; directCommits: number; bufferedCommits: number } {
    const mibs = (r: number[]) => (r.length ? Math.round(median(r) * 1000 / 1048576) : 0);
    return { policy: this.policy, direct: this.direct(LIMITS.DIRECT_SAMPLE_BYTES), directMiBs: mibs(this.rates[1]), bufferedMiBs: mibs(this.rates[0]), ...this.stats };
  }
}
