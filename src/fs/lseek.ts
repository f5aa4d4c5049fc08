/**
 * lseek(2)'s SEEK_DATA and SEEK_HOLE on a vdisk, at block granularity: a block is data when it
 * is dirty or the map gives it a present record (fs/data-map.ts), a hole otherwise (never
 * written, trimmed away, or a zero extent: punched or written as zeros, once committed — until
 * then a dirty block counts as data, which lseek(2) allows). The end of the file is
 * a hole. Tools that copy or convert images (`qemu-img convert`, `cp --sparse`) skip the holes.
 * The map is walked a window of LSEEK_WINDOW_BLOCKS at a time, so a seek near its start does not
 * walk all of a large file.
 */
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { Datastore } from '../txn/datastore.js';
import { blocksWithData } from './data-map.js';
import type { Vnode } from './vnode.js';

/** lseek(2) refuses an offset at or past the end (ENXIO) for both kinds. */
function inside(size: number, off: number): void {
  if (off < 0) fail('INVALID', 'negative offset');
  if (off >= size) fail('PAST_END', 'offset at or past the end of the file');
}

/** A file whose map is not walked (a hidden tree's: snapshots, /.control) is data to its end, as the kernel's generic lseek says. */
export function seekWhole(size: number, off: number, what: 'data' | 'hole'): number {
  inside(size, off);
  return what === 'data' ? off : size;
}

/** The first offset at or after `off` in data ('data') or in a hole ('hole'); PAST_END (ENXIO) where there is none or off is at or past the end. */
export async function seekData(ds: Datastore, v: Vnode, off: number, what: 'data' | 'hole'): Promise<number> {
  const size = v.attrs.size, bs = ds.blockSize;
  inside(size, off);
  const last = Math.ceil(size / bs);
  for (let from = Math.floor(off / bs); from < last; from += LIMITS.LSEEK_WINDOW_BLOCKS) {
    const to = Math.min(last, from + LIMITS.LSEEK_WINDOW_BLOCKS);
    const lbns = await blocksWithData(ds, v, from, to);
    if (what === 'data') {
      if (lbns.length) return Math.max(off, lbns[0] * bs);
      continue;
    }
    let expect = from;
    for (const lbn of lbns) { if (lbn !== expect) break; expect++; }
    if (expect < to) return Math.min(size, Math.max(off, expect * bs));
  }
  if (what === 'hole') return size;
  return fail('PAST_END', 'no data at or after the offset');
}
