/**
 * What a commit will write to the log for its dirty blocks, estimated from above block by block.
 * The cleaner paces writers and plans how many segments to empty on this estimate (fs/cleaner.ts),
 * so it must not fall short of what the commit writes: a dirty block costs its data records at
 * their largest (payload, record header, sealing's framing; compression never grows a payload,
 * codec/compress.ts) and an allowance for the map leaf rewritten to point at them.
 *
 * A block written whole costs a whole block; one written in whole sub-blocks only, which the
 * commit stores as sub-block records (fs/subs.ts), costs those sub-blocks — a 4 KiB random write
 * into a 32 KiB block is counted ~10 KiB (its record and the leaf allowance), not 32. Memory is a separate bound: a dirty block holds
 * its whole buffer whatever it costs in the log (DIRTY_LIMIT_BYTES).
 */
import { RECORD_HEADER } from '../codec/record.js';
import { SEAL_OVERHEAD } from '../codec/seal.js';
import { invariant, LIMITS } from '../limits.js';
import type { Datastore } from '../txn/datastore.js';
import { subsWritten } from './partial.js';
import type { DirtySet } from './vnode.js';
import type { DirtyCounter } from './data.js';

/** The most a data record adds to its payload: its header, and sealing's epoch, nonce and tag. */
export const RECORD_MAX_OVERHEAD = RECORD_HEADER + SEAL_OVERHEAD;

type Geometry = Pick<Datastore, 'blockSize' | 'maxSubs' | 'subsPerBlock' | 'subBlocks'>;

/** Log bytes for one dirty block written as `subs` sub-block records (0: as one whole block). */
export function blockLogBytes(ds: Geometry, subs: number): number {
  invariant(subs >= 0 && subs < Math.max(1, ds.subsPerBlock), 'sub-block records of a block: fewer than a whole block');
  const data = subs ? subs * (LIMITS.SUB_BYTES + RECORD_MAX_OVERHEAD) : ds.blockSize + RECORD_MAX_OVERHEAD;
  return data + LIMITS.LOG_NODE_BYTES_PER_BLOCK;
}

/**
 * The sub-block records a partly written block of an open set would be stored as (fs/subs.ts:
 * whole sub-blocks only, fewer than all of them), or 0 when it would be written whole. Where a
 * datastore's overlay may hold fewer sub-blocks than a block has (format v5), the commit may
 * fold any of them whole (limitSubs), so they are counted whole.
 */
function openSubs(ds: Geometry, set: DirtySet, lbn: number): number {
  const p = set.partial.get(lbn);
  if (!p || !ds.subBlocks || ds.maxSubs < ds.subsPerBlock) return 0;
  const subs = subsWritten(p, LIMITS.SUB_BYTES);
  return subs && subs.length < ds.subsPerBlock ? subs.length : 0;
}

/**
 * Accounts for a change to block lbn of an open set (written, cut, dropped): its dirty memory
 * (a whole block while it is in the set) and its estimated log bytes, in the set and in `dirty`.
 * Every change to which blocks a set holds, or to how one is written, comes through here.
 */
export function restate(ds: Geometry, set: DirtySet, lbn: number, dirty: DirtyCounter): void {
  const was = set.logEst.get(lbn) ?? 0;
  const held = set.blocks.has(lbn);
  const now = held ? blockLogBytes(ds, openSubs(ds, set, lbn)) : 0;
  if (held) set.logEst.set(lbn, now); else set.logEst.delete(lbn);
  set.logBytes += now - was;
  invariant(set.logBytes >= 0, 'a dirty set\'s log estimate is not negative');
  if (held !== (was > 0)) dirty.add(held ? ds.blockSize : -ds.blockSize);
  dirty.log(now - was);
}

/** Accounts for an open set let go whole (its file deleted): its blocks' memory and log estimate leave `dirty`. */
export function release(ds: Geometry, set: DirtySet, dirty: DirtyCounter): void {
  dirty.add(-set.blocks.size * ds.blockSize);
  dirty.log(-set.logBytes);
}
