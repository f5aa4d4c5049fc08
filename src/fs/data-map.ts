/**
 * Where a vdisk's data lies, from its dirty sets and its block map without reading any record:
 * what fallocate's zeroing skips and what lseek's SEEK_DATA / SEEK_HOLE answer.
 */
import { decodeMapValue, presentPtrs } from '../format/map-value.js';
import { keyOfBlock } from '../txn/commit.js';
import type { Datastore } from '../txn/datastore.js';
import { isVdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { Vnode } from './vnode.js';
import { getNumBE } from '../codec/u64.js';

/**
 * The blocks of [first, end) that may hold data, in order: those dirty in the open or the
 * committing txg, and those the map gives a present record. Every other block reads as zeros
 * (never written, a zero extent, or past a truncation not yet committed: blocks at or past a
 * dirty set's trimFrom read as zeros unless a later set holds them, as in blockContent). The
 * dirty sets and the map root are taken in one synchronous step (a commit publishes its map
 * before it stops holding its blocks as `syncing`); the map is then walked from that root, again
 * from the new one should a commit reuse a segment under the walk. Yields to the event loop now and then, so a walk of a large
 * vdisk does not hold it.
 */
export async function blocksWithData(ds: Datastore, v: Vnode, first: number, end: number): Promise<number[]> {
  for (let attempt = 0; ; attempt++) {
    const found = new Set<number>();
    const openTrim = v.open.trimFrom ?? Infinity, trim = Math.min(openTrim, v.syncing?.trimFrom ?? Infinity);
    for (const lbn of v.open.blocks.keys()) if (lbn >= first && lbn < end) found.add(lbn);
    for (const lbn of v.syncing?.blocks.keys() ?? []) if (lbn >= first && lbn < Math.min(end, openTrim)) found.add(lbn);
    const root = v.map.root, stop = Math.min(end, trim);
    try {
      let n = 0;
      if (first < stop) for await (const [k, val] of v.map.scan(keyOfBlock(first), keyOfBlock(stop), root)) {
        if (presentPtrs(decodeMapValue(val, ds.subsPerBlock)).length) found.add(getNumBE(k, 0));
        if (++n % LIMITS.DATA_MAP_YIELD_ENTRIES === 0) await new Promise((r) => setImmediate(r));
      }
      return [...found].sort((a, b) => a - b);
    } catch (e) {
      if (attempt === 0 && v.map.root !== root && isVdfsError(e)) continue;
      throw e;
    }
  }
}
