/**
 * fallocate(2) on a vdisk. vdfs is copy-on-write and thin: a block's space is taken when a
 * commit writes it, never before, so "allocating" reserves nothing (as on ZFS); what a caller
 * can count on is the size and the content.
 *
 * | mode (FALLOC_FL_*)            | what vdfs does                                                        |
 * |-------------------------------|-----------------------------------------------------------------------|
 * | 0                             | the size grows to off + len if it is smaller                          |
 * | KEEP_SIZE                     | nothing                                                               |
 * | PUNCH_HOLE \| KEEP_SIZE       | [off, off + len) within the size reads zeros                          |
 * | ZERO_RANGE (\| KEEP_SIZE)     | the same, and without KEEP_SIZE the size grows as with mode 0         |
 *
 * Zeroing goes through the write path as writes of zeros, so it is ordered, journaled and made
 * durable like any write: a block zeroed whole is stored by its commit as a zero extent (no data)
 * and the record it had is freed (txn/commit.ts), one zeroed in part is a partial write. Blocks
 * that already read as zeros (never written, or zero extents) are skipped: the map is walked
 * for the blocks it holds, so discarding a mostly empty vdisk — mkfs.ext4 discards its whole
 * device — writes little and reads little.
 * Writes that run at the same time as a punch over the same bytes land before or after it, as
 * two overlapping writes would.
 */
import { blocksWithData } from './data-map.js';
import type { Datastore } from '../txn/datastore.js';
import { invariant, LIMITS } from '../limits.js';
import type { Vnode } from './vnode.js';

export interface FallocateMode {
  /** The size does not change (FALLOC_FL_KEEP_SIZE). */
  keepSize: boolean;
  /** The range reads zeros afterwards (FALLOC_FL_PUNCH_HOLE or FALLOC_FL_ZERO_RANGE). */
  zero: boolean;
}

/** What fallocate needs of the filesystem: writes through the write path (with back-pressure) and growing the size. */
export interface FallocateFile {
  ds: Datastore;
  v: Vnode;
  write(off: number, data: Buffer): Promise<void>;
  grow(size: number): Promise<void>;
}

/** What one call did: bytes written as zeros, and blocks skipped because they already read as zeros. */
export interface FallocateResult { zeroedBytes: number; skippedBlocks: number }

/** Shared source of zeros for the writes (the write path copies from it, never into it). */
let zeros: Buffer | null = null;

export async function fallocate(f: FallocateFile, off: number, len: number, mode: FallocateMode): Promise<FallocateResult> {
  invariant(off >= 0 && len > 0, 'fallocate ranges are checked by the caller');
  const end = off + len;
  const before = f.v.attrs.size;
  const result: FallocateResult = { zeroedBytes: 0, skippedBlocks: 0 };
  if (mode.zero) await zeroRange(f, off, Math.min(end, before), result);
  if (!mode.keepSize && end > f.v.attrs.size) await f.grow(end);
  return result;
}

/**
 * Writes zeros over [from, to) where a block may hold data, in runs of at most
 * FALLOCATE_ZERO_RUN_BYTES per write; each run is cut at the file's size when it is written (a
 * truncation meanwhile is not undone).
 */
async function zeroRange(f: FallocateFile, from: number, to: number, result: FallocateResult): Promise<void> {
  if (from >= to) return;
  const bs = f.ds.blockSize;
  const first = Math.floor(from / bs), end = Math.ceil(to / bs);
  const lbns = await blocksWithData(f.ds, f.v, first, end);
  result.skippedBlocks += end - first - lbns.length;
  zeros ??= Buffer.alloc(LIMITS.FALLOCATE_ZERO_RUN_BYTES);
  let runAt = -1, runEnd = -1;
  const flush = async () => {
    const stop = Math.min(runEnd, f.v.attrs.size);
    if (runAt >= 0 && runAt < stop) {
      await f.write(runAt, zeros!.subarray(0, stop - runAt));
      result.zeroedBytes += stop - runAt;
    }
    runAt = runEnd = -1;
  };
  for (const lbn of lbns) {
    const a = Math.max(from, lbn * bs), b = Math.min(to, (lbn + 1) * bs);
    if (runAt >= 0 && runEnd === a && b - runAt <= LIMITS.FALLOCATE_ZERO_RUN_BYTES) { runEnd = b; continue; }
    await flush();
    runAt = a; runEnd = b;
  }
  await flush();
}
