/**
 * Which partly written blocks a commit stores as sub-block records (format/map-value.ts): those
 * whose written bytes are whole sub-blocks, as long as the sub-blocks laid over the block stay
 * within the datastore's maxSubs (OVERLAY_MAX_SUBS). Storing them writes only the written sub-blocks and reads nothing of
 * the rest; the others are filled in from the stored block and rewritten whole (fs/partial.ts).
 */
import { LIMITS } from '../limits.js';
import { decodeMapValue } from '../format/map-value.js';
import { keyOfBlock } from '../txn/commit.js';
import type { Datastore } from '../txn/datastore.js';
import type { CowTree } from '../meta/btree.js';
import type { DirtySet } from './vnode.js';
import { cover, newPartial, subsWritten } from './partial.js';

/** Block → its written sub-blocks, for the set's partly written blocks that are whole sub-blocks. */
export function subCandidates(ds: Datastore, set: DirtySet): Map<number, number[]> {
  const out = new Map<number, number[]>();
  if (!ds.subBlocks) return out;
  for (const [lbn, p] of set.partial) {
    const subs = subsWritten(p, LIMITS.SUB_BYTES);
    // All of them written (a reader's fill kept it partly written): one whole record, not eight.
    if (subs && subs.length <= ds.maxSubs && subs.length < ds.subsPerBlock) out.set(lbn, subs);
  }
  return out;
}

/**
 * Drops from `subs` the blocks whose stored sub-blocks and new ones together would pass
 * the datastore's maxSubs (they are rewritten whole, which folds the overlay in). Runs in the commit,
 * before it changes the map; blocks at or past the set's `trimFrom` have no stored sub-blocks left.
 */
export async function limitSubs(ds: Datastore, map: CowTree, set: DirtySet, subs: Map<number, number[]>): Promise<void> {
  if (ds.maxSubs >= ds.subsPerBlock) return; // every sub-block of a block fits: nothing to look up
  for (const [lbn, mine] of [...subs]) {
    // Only blocks the writes left partly written can be filled in (the cleaner's own add no sub-block the map lacks).
    if (!set.partial.has(lbn) || (set.trimFrom !== null && lbn >= set.trimFrom)) continue;
    const val = await map.get(keyOfBlock(lbn), map.root);
    if (!val) continue;
    const stored = decodeMapValue(val, ds.subsPerBlock).subs.map((s) => s.index);
    if (new Set([...stored, ...mine]).size > ds.maxSubs) subs.delete(lbn);
  }
}

/**
 * A sub-block record the cleaner moves joins a frozen set as that sub-block written with its
 * stored content. Its block is kept partly written there, so a reader of the set fills the rest
 * from the stored block (the set's blocks are what reads see during the commit).
 */
export function moveSub(set: DirtySet, subs: Map<number, number[]>, lbn: number, sub: number, data: Buffer, blockSize: number): void {
  const S = LIMITS.SUB_BYTES;
  let block = set.blocks.get(lbn);
  if (!block) { block = Buffer.alloc(blockSize); set.blocks.set(lbn, block); set.partial.set(lbn, newPartial()); }
  data.copy(block, sub * S);
  const p = set.partial.get(lbn);
  if (p) cover(p, sub * S, (sub + 1) * S);
  subs.set(lbn, [...(subs.get(lbn) ?? []), sub].sort((x, y) => x - y));
}
