/**
 * File data: reads, writes and truncation of a vdisk in logical blocks. A block's current
 * content is, in order: the open txg's dirty copy, the committing txg's copy, the committed
 * map. Writes go through the write path (txn/write-path.ts); truncation, like a write, holds the
 * file's lock, fetches what it needs first and then changes the open txg in one synchronous step,
 * so a freeze never sees half of it.
 */
import { RecordKind } from '../codec/record.js';
import { BlockPtr, ExtentState } from '../format/ptr.js';
import { decodeMapValue, MapValue, subKey } from '../format/map-value.js';
import { keyOfBlock } from '../txn/commit.js';
import type { Datastore } from '../txn/datastore.js';
import type { TxnFile } from '../txn/write-path.js';
import { lent } from '../txn/dirty-blocks.js';
import { isVdfsError, VdfsError } from '../errors.js';
import { invariant, LIMITS } from '../limits.js';
import type { DirtySet, Vnode } from './vnode.js';
import { cover, covers, fillGaps, newPartial, subsWritten, whole } from './partial.js';
import { planReadAhead } from './read-ahead.js';
import { restate } from './log-bytes.js';
import type { CowTree, Node } from '../meta/btree.js';

/**
 * The open txg's dirty bytes in memory (`add`) and its estimated log bytes (`log`, fs/log-bytes.ts);
 * `sized` hears of each size change truncation makes (the oplog logs it).
 */
export interface DirtyCounter { add(bytes: number): void; log(bytes: number): void; sized?(v: Vnode, size: number): void }

/**
 * The bytes [from, to) of a block a reader wants: what is returned for it may hold anything
 * outside them (a read inside written sub-blocks or written ranges reads nothing else).
 */
export interface Want { from: number; to: number }

/** Current content of block lbn (only `want` of it, when given), or null when it reads as zeros. */
export async function blockContent(ds: Datastore, v: Vnode, lbn: number, want?: Want): Promise<Buffer | null> {
  const open = v.open.blocks.get(lbn);
  if (open) return wholeBlock(ds, v, v.open, lbn, open, want);
  if (v.open.trimFrom !== null && lbn >= v.open.trimFrom) return null;
  return contentBelow(ds, v, v.open, lbn, want);
}

/** A dirty block, its partly written rest filled in first (unless `want` lies in what was written). */
async function wholeBlock(ds: Datastore, v: Vnode, set: DirtySet, lbn: number, block: Buffer, want?: Want): Promise<Buffer> {
  const p = set.partial.get(lbn);
  lent(block); // whoever gets it may keep it: it is not reused once committed (txn/dirty-blocks.ts)
  if (p && !(want && covers(p, want.from, want.to))) await fillBlock(ds, v, set, lbn);
  return block;
}

/** Content of block lbn before dirty set `set` changed it: the committing txg's copy (below the open set), or the committed map. */
async function contentBelow(ds: Datastore, v: Vnode, set: DirtySet, lbn: number, want?: Want): Promise<Buffer | null> {
  for (let attempt = 0; ; attempt++) {
    const syncing = v.syncing;
    if (syncing && syncing !== set) {
      const b = syncing.blocks.get(lbn);
      if (b) return wholeBlock(ds, v, syncing, lbn, b, want);
      if (syncing.trimFrom !== null && lbn >= syncing.trimFrom) return null;
    }
    // A frozen set's blocks are filled from the map as it was at the freeze until its commit is
    // durable: the commit publishes the file's new map before its records are written.
    const root = set.below && ds.txg === set.below.txg ? set.below.root : v.map.root;
    try {
      return await mappedBlock(ds, v.ino, v.map, root, lbn, want);
    } catch (e) {
      // A commit may have replaced the block (and two more reused its segment) while we looked it up.
      if (attempt === 0 && v.map.root !== root && isVdfsError(e)) continue;
      throw e;
    }
  }
}

/**
 * Fills a partly written block of `set` from the block as it was before (once: callers share the
 * fetch). The buffer fetched for is filled even if a truncation dropped it meanwhile (a reader
 * may hold it); later writes keep their bytes, as the gaps are taken when the fetch is back. The
 * block stays in `set.partial` with its written ranges (the commit may still store only its
 * written sub-blocks: fs/subs.ts); its settled `filling` says it is whole now.
 */
export async function fillBlock(ds: Datastore, v: Vnode, set: DirtySet, lbn: number): Promise<void> {
  const p = set.partial.get(lbn);
  const block = set.blocks.get(lbn);
  if (!p || !block) return;
  p.filling ??= (async () => {
    const base = set.trimFrom !== null && lbn >= set.trimFrom ? null : await contentBelow(ds, v, set, lbn);
    fillGaps(block, p, base);
  })().catch((e: unknown) => { p.filling = undefined; throw e; }); // a later caller tries again
  await p.filling;
}

/**
 * Fills every partly written block of a set (the commit, before encoding them): the fetches go
 * out together. A stored block that is damaged beyond repair (its read fails its checks even
 * from redundancy) cannot fill in the rest: the written bytes are kept, the rest is zeros, and
 * `damaged` hears of it (an alarm). The write was acknowledged; the bytes it did not cover were
 * unreadable already. Other failures (targets out, I/O errors) fail the commit.
 */
export async function fillAll(ds: Datastore, v: Vnode, set: DirtySet, damaged: (lbn: number, e: unknown) => void,
  except?: ReadonlyMap<number, unknown>): Promise<void> {
  if (!set.partial.size) return;
  await Promise.all([...set.partial.keys()].filter((lbn) => !except?.has(lbn)).map((lbn) => fillBlock(ds, v, set, lbn).catch((e: unknown) => {
    const p = set.partial.get(lbn), block = set.blocks.get(lbn);
    if (!p || !block || !DAMAGE.some((c) => isVdfsError(e, c))) throw e;
    fillGaps(block, p, null);
    set.partial.delete(lbn);
    damaged(lbn, e);
  })));
}

/** Errors that say a stored block is damaged (not that it could not be reached). */
const DAMAGE = ['CHECKSUM', 'CORRUPT', 'AUTH'] as const;

/** Block lbn of file ino as the map under `root` has it (only `want` of it, when given), or null when it reads as zeros. */
export async function mappedBlock(ds: Datastore, ino: bigint, map: CowTree, root: Node | null, lbn: number, want?: Want): Promise<Buffer | null> {
  const val = await map.get(keyOfBlock(lbn), root);
  return val ? valueContent(ds, ino, lbn, decodeMapValue(val, ds.subsPerBlock), want) : null;
}

/**
 * The content a map value gives block lbn: its base record with its sub-block records laid
 * over it (null: all zeros). With `want`, only the sub-blocks it touches are read, and the base
 * only when `want` is not all inside them; only `want` of the block returned is its content.
 */
export async function valueContent(ds: Datastore, ino: bigint, lbn: number, mv: MapValue, want?: Want): Promise<Buffer | null> {
  const { base } = mv;
  const readBase = async () => (base.state === ExtentState.Present ? ds.readRecord(base, RecordKind.Data, ino, BigInt(lbn)) : null);
  if (!mv.subs.length) return readBase();
  const S = LIMITS.SUB_BYTES;
  const wanted = want && mv.subs.filter((s) => s.index * S < want.to && (s.index + 1) * S > want.from);
  const inSubs = !!wanted && wanted.length === Math.ceil(want.to / S) - Math.floor(want.from / S);
  const subs = wanted ?? mv.subs; // with `want`, the sub-blocks outside it are not read
  const [b, ...parts] = await Promise.all([inSubs ? null : readBase(), ...subs.map((s) =>
    (s.ptr.state === ExtentState.Present ? ds.readRecord(s.ptr, RecordKind.Data, ino, subKey(lbn, s.index)) : null))]);
  // A copy (`b` may be shared by the read-ahead cache) of `want` only, in a read buffer handed
  // to the reader: outside `want` it holds whatever the buffer held.
  const n = b ? b.length : ds.blockSize;
  const out = ds.loans ? ds.loans.lendOut(n) : Buffer.allocUnsafe(n);
  const lo = want ? Math.min(want.from, n) : 0, hi = want ? Math.min(want.to, n) : n;
  if (b) b.copy(out, lo, lo, hi); else out.fill(0, lo, hi);
  subs.forEach((s, i) => {
    const part = parts[i];
    if (part && part.length !== S) throw new VdfsError('CORRUPT', `sub-block record of ${part.length} bytes`);
    if (part) part.copy(out, s.index * S); else out.fill(0, s.index * S, (s.index + 1) * S);
  });
  ds.loans?.returned([b, ...parts].filter((x): x is Buffer => !!x)); // copied: their buffers may be reused
  return out;
}

/**
 * Reads up to len bytes at off (fewer only at end of file) as pieces in order that never change
 * (a piece of a block dirty in the open txg is a copy; the others are slices of stored records
 * or of shared zeros), so the kernel binding writes them out while later requests run. A
 * sequential read fetches ahead; a read of several blocks fetches its own in runs.
 * A sequential read's own blocks join its read-ahead's first run, and the read waits for the
 * read-ahead's map lookups (not its reads) before reading: otherwise its blocks were each read
 * on their own, racing the lookups that would have read them in one long run.
 */
export async function readData(ds: Datastore, v: Vnode, off: number, len: number): Promise<Buffer[]> {
  const bs = ds.blockSize;
  const ahead = planReadAhead(v.readAhead, off, len, v.attrs.size, bs);
  const first = Math.floor(off / bs), end = Math.ceil(Math.min(off + len, v.attrs.size) / bs);
  if (ahead) {
    v.prefetching = prefetchBlocks(ds, v, Math.min(first, ahead[0]), ahead[1]).catch(ignore);
  } else if (end - first > 1) {
    // Not (yet) part of a stream, or arrived out of its order: its own blocks still come in
    // long runs rather than one read each.
    await prefetchBlocks(ds, v, first, end).catch(ignore);
  }
  if (v.prefetching && first < v.readAhead.ahead) await v.prefetching;
  // The open txg's blocks change under later writes (and truncation): those pieces are copies.
  return readPieces(bs, v.attrs.size, off, len, (lbn, want) => blockContent(ds, v, lbn, want), (lbn, b) => b === v.open.blocks.get(lbn));
}

/**
 * Starts fetching the records of blocks [from, to) that are mapped and not dirty in memory, a
 * run's worth at a time as the map lookups go (so the nearest are asked for first).
 */
async function prefetchBlocks(ds: Datastore, v: Vnode, from: number, to: number): Promise<void> {
  const root = v.map.root;
  const step = Math.max(1, Math.floor(LIMITS.READ_AHEAD_RUN_BYTES / ds.blockSize));
  let blocks: { ptr: BlockPtr; key: bigint }[] = [];
  for (let lbn = from; lbn < to; lbn++) {
    if (v.open.blocks.has(lbn) || v.syncing?.blocks.has(lbn)) continue;
    const val = await v.map.get(keyOfBlock(lbn), root);
    if (!val) continue;
    const mv = decodeMapValue(val, ds.subsPerBlock);
    if (mv.base.state === ExtentState.Present) blocks.push({ ptr: mv.base, key: BigInt(lbn) });
    for (const s of mv.subs) if (s.ptr.state === ExtentState.Present) blocks.push({ ptr: s.ptr, key: subKey(lbn, s.index) });
    if (blocks.length >= step) { ds.prefetch(v.ino, blocks); blocks = []; }
  }
  ds.prefetch(v.ino, blocks);
}

/** Reads up to len bytes at off of a file of `size` bytes whose blocks `block` gives (fewer only at end of file). */
export async function readBlocks(bs: number, size: number, off: number, len: number, block: (lbn: number, want: Want) => Promise<Buffer | null>): Promise<Buffer> {
  return Buffer.concat(await readPieces(bs, size, off, len, block, () => false)); // a copy: the caller's own
}

/**
 * Reads up to len bytes at off as pieces in order (fewer bytes only at end of file): slices of
 * the blocks `block` gives, copied when `mutable` says the buffer may change after it is
 * returned, and slices of a shared zero buffer where a block reads as zeros.
 */
export async function readPieces(bs: number, size: number, off: number, len: number,
  block: (lbn: number, want: Want) => Promise<Buffer | null>, mutable: (lbn: number, b: Buffer) => boolean): Promise<Buffer[]> {
  const end = Math.min(size, off + len);
  if (end <= off) return [];
  const first = Math.floor(off / bs), last = Math.floor((end - 1) / bs);
  const jobs: Promise<Buffer[]>[] = [];
  for (let lbn = first; lbn <= last; lbn++) {
    const bStart = lbn * bs;
    const from = Math.max(off, bStart) - bStart, to = Math.min(end, bStart + bs) - bStart;
    jobs.push(block(lbn, { from, to }).then((b) => {
      const got = b ? b.subarray(from, Math.min(to, Math.max(from, b.length))) : EMPTY;
      const piece = got.length && mutable(lbn, b!) ? Buffer.from(got) : got;
      return got.length < to - from ? [piece, zeros(to - from - got.length)] : [piece];
    }));
  }
  return (await Promise.all(jobs)).flat().filter((p) => p.length > 0);
}

/** A prefetch that failed: the demand read, if it comes, reads and reports for itself. */
const ignore = (): void => undefined;
const EMPTY = Buffer.alloc(0);
/** A zero buffer shared by every read (never written), grown to the largest run asked for. */
let ZEROS = Buffer.alloc(LIMITS.BLOCK_SIZE);
function zeros(n: number): Buffer {
  if (n > ZEROS.length) ZEROS = Buffer.alloc(n);
  return ZEROS.subarray(0, n);
}

/** The write path's view of a vnode (see txn/write-path.ts). */
export function txnFile(ds: Datastore, v: Vnode, dirty: DirtyCounter): TxnFile {
  return {
    ino: v.ino,
    lock: v.lock,
    size: () => v.attrs.size,
    openBlock: (lbn) => v.open.blocks.get(lbn),
    addBlock: (lbn, block) => {
      invariant(block.length === ds.blockSize, 'a dirty block is a whole block');
      v.open.blocks.set(lbn, block);
      v.open.partial.delete(lbn);
      restate(ds, v.open, lbn, dirty);
    },
    // Accounted for by `written`, which follows in the same synchronous step (txn/write-path.ts).
    addPartial: (lbn, block) => {
      invariant(block.length === ds.blockSize, 'a dirty block is a whole block');
      v.open.blocks.set(lbn, block);
      v.open.partial.set(lbn, newPartial());
    },
    written: (lbn, pieces) => {
      const set = v.open, p = set.partial.get(lbn);
      if (!p) return;
      for (const x of pieces) cover(p, x.at, x.at + x.bytes.length);
      const complete = whole(p, ds.blockSize) && !p.filling;
      if (complete) set.partial.delete(lbn);
      restate(ds, set, lbn, dirty);
      // The rest is fetched now, off the write's way (the commit would wait for it otherwise) —
      // unless the commit may store the written sub-blocks as records of their own, which reads
      // nothing. A failure is met again at the commit.
      if (!complete && !p.filling && !(ds.subBlocks && subsWritten(p, LIMITS.SUB_BYTES))) void fillBlock(ds, v, set, lbn).catch(() => undefined);
    },
    grown: (size) => { if (size > v.attrs.size) v.attrs.size = size; v.touch(); },
  };
}

/** Sets the size; caller holds v.lock. Bytes past the new end are gone; growing reads zeros. */
export async function truncateData(ds: Datastore, v: Vnode, size: number, dirty: DirtyCounter): Promise<void> {
  if (size > LIMITS.FILE_MAX_BYTES) throw new VdfsError('TOO_BIG', 'size past the largest file size');
  const bs = ds.blockSize;
  if (size < v.attrs.size) {
    const tail = size % bs;
    const keepBlocks = Math.ceil(size / bs);
    const tailLbn = keepBlocks - 1;
    const tailBase = tail ? await blockContent(ds, v, tailLbn) : null;
    // From here on synchronous: one step for a concurrent freeze. A cut block is whole now (filled
    // above; never sub-blocks over its stored self, whose bytes past the cut must go). A cut on a
    // block boundary cuts no block: the last one kept stays as it is, partly written or not.
    const set = v.open;
    if (tail) set.partial.delete(tailLbn);
    for (const lbn of [...set.blocks.keys()]) {
      if (lbn >= keepBlocks) { set.blocks.delete(lbn); set.partial.delete(lbn); restate(ds, set, lbn, dirty); }
    }
    set.trimFrom = Math.min(set.trimFrom ?? Infinity, keepBlocks);
    if (tail && tailBase) {
      let block = set.blocks.get(tailLbn);
      if (!block) { block = Buffer.from(tailBase); set.blocks.set(tailLbn, block); }
      block.fill(0, tail);
    }
    if (tail) restate(ds, set, tailLbn, dirty);
  }
  v.attrs.size = size;
  v.touch();
  dirty.sized?.(v, size);
}
