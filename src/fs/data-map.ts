/**
 * Where a vdisk's data lies, from its dirty sets and its block map without reading any record:
 * what fallocate's zeroing skips and what lseek's SEEK_DATA / SEEK_HOLE answer.
 */
import { decodeMapValue } from '../format/map-value.js';
import { ExtentState } from '../format/ptr.js';
import { keyOfBlock } from '../txn/commit.js';
import type { Datastore } from '../txn/datastore.js';
import { isVdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { Vnode } from './vnode.js';

/**
 * The blocks of [first, end) that may hold data, in order: those dirty in the open or the
 * committing txg, and those the map gives a present record. Every other block reads as zeros
 * (never written, or a zero extent). The dirty sets and the map root are taken in one
 * synchronous step (a commit publishes its map before it stops holding its blocks as
 * `syncing`); the map is then walked from that root, again from the new one should a commit
 * reuse a segment under the walk. Yields to the event loop now and then, so a walk of a large
 * vdisk does not hold it.
 */
export async function blocksWithData(ds: Datastore, v: Vnode, first: number, end: number): Promise<number[]> {
  for (let attempt = 0; ; attempt++) {
    const found = new Set<number>();
    for (const set of [v.open, v.syncing]) for (const lbn of set?.blocks.keys() ?? []) if (lbn >= first && lbn < end) found.add(lbn);
    const root = v.map.root;
    try {
      let n = 0;
      for await (const [k, val] of v.map.scan(keyOfBlock(first), keyOfBlock(end), root)) {
        const mv = decodeMapValue(val, ds.subsPerBlock);
        if (mv.base.state === ExtentState.Present || mv.subs.some((x) => x.ptr.state === ExtentState.Present)) found.add(Number(k.readBigUInt64BE(0)));
        if (++n % LIMITS.FALLOCATE_SCAN_YIELD === 0) await new Promise((r) => setImmediate(r));
      }
      return [...found].sort((a, b) => a - b);
    } catch (e) {
      if (attempt === 0 && v.map.root !== root && isVdfsError(e)) continue;
      throw e;
    }
  }
}
