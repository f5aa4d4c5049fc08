/**
 * Which partly written blocks a commit stores as sub-block records (format/map-value.ts): those
 * whose written bytes are whole sub-blocks, as long as the sub-blocks laid over the block stay
 * within OVERLAY_MAX_SUBS. Storing them writes only the written sub-blocks and reads nothing of
 * the rest; the others are filled in from the stored block and rewritten whole (fs/partial.ts).
 */
import { LIMITS } from '../limits.js';
import { decodeMapValue } from '../format/map-value.js';
import { keyOfBlock } from '../txn/commit.js';
import type { Datastore } from '../txn/datastore.js';
import type { CowTree } from '../meta/btree.js';
import type { DirtySet } from './vnode.js';
import { subsWritten } from './partial.js';

/** Block → its written sub-blocks, for the set's partly written blocks that are whole sub-blocks. */
export function subCandidates(ds: Datastore, set: DirtySet): Map<number, number[]> {
  const out = new Map<number, number[]>();
  if (!ds.subBlocks) return out;
  for (const [lbn, p] of set.partial) {
    const subs = subsWritten(p, LIMITS.SUB_BYTES);
    if (subs && subs.length <= LIMITS.OVERLAY_MAX_SUBS) out.set(lbn, subs);
  }
  return out;
}

/**
 * Drops from `subs` the blocks whose stored sub-blocks and new ones together would pass
 * OVERLAY_MAX_SUBS (they are rewritten whole, which folds the overlay in). Runs in the commit,
 * before it changes the map; blocks at or past `trimFrom` have no stored sub-blocks left.
 */
export async function limitSubs(ds: Datastore, map: CowTree, trimFrom: number | null, subs: Map<number, number[]>): Promise<void> {
  for (const [lbn, mine] of [...subs]) {
    if (trimFrom !== null && lbn >= trimFrom) continue;
    const val = await map.get(keyOfBlock(lbn), map.root);
    if (!val) continue;
    const stored = decodeMapValue(val, ds.subsPerBlock).subs.map((s) => s.index);
    if (new Set([...stored, ...mine]).size > LIMITS.OVERLAY_MAX_SUBS) subs.delete(lbn);
  }
}
