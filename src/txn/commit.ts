/**
 * Writing one transaction group (a physical transaction): every dirty block and tree node is
 * appended to the log in one pass, then the commit record goes into its ring slot, then ONE
 * sync makes it all durable. The commit is valid only if every extent it names hashes right, so
 * a crash anywhere before the sync completes leaves the previous commit as the newest valid
 * one; nothing this txg wrote overlaps what the previous commit references (segments freed by a
 * txg are reused only after it is durable, and each txg starts on a fresh aligned offset).
 */
import { EncodedRecord, framedBuffer, RecordKind } from '../codec/record.js';
import type { DataItem } from '../codec/block-codec.js';
import { encodeCommit, OplogHead } from '../format/commit.js';
import { OPLOG_VERSION } from '../format/superblock.js';
import { BlockPtr, ExtentState, NULL_PTR, zeroPtr } from '../format/ptr.js';
import { decodeMapValue, encodeMapValue, MapValue, presentPtrs, subKey } from '../format/map-value.js';
import { CowTree, Node, persistTree } from '../meta/btree.js';
import { encodeNode } from '../meta/node-codec.js';
import { encodeInode, ino2key, InodeAttrs } from '../meta/inode.js';
import { Appender } from '../log/appender.js';
import { invariant, LIMITS } from '../limits.js';
import type { Datastore } from './datastore.js';
import { applySnapshots, Reaper, SnapOp } from '../snap/apply.js';
import { Slicer } from './slicer.js';
import { putNumBE } from '../codec/u64.js';

/** One file's share of a transaction group, captured at freeze time. */
export interface FrozenFile {
  ino: bigint;
  attrs: InodeAttrs;            // copy as of the freeze; mapRoot/stored are filled in by the commit
  map: CowTree;                 // only commits mutate file maps
  blocks: Map<number, Buffer>;  // logical block number -> full block content
  /** Blocks of `blocks` stored as sub-block records: only these sub-blocks of them are written (format/map-value.ts). */
  subs: Map<number, number[]>;
  /** What writing its blocks adds to the log, estimated from above at the freeze (fs/log-bytes.ts): the cleaner plans on it. */
  logBytes: number;
  seal: Set<number>;            // blocks to seal whatever the policy (sealed blocks the cleaner moves)
  trimFrom: number | null;      // drop map entries at and beyond this block first
  deleted: boolean;
  /** Called once the new map root and the stored and logical bytes are known. */
  done(mapRoot: BlockPtr, sizes: DataSizes): void;
  /** Adds sub-block `sub` of block lbn with this content, written as a sub-block record (the cleaner moving one). */
  moveSub(lbn: number, sub: number, data: Buffer): void;
  /** Fills in the partly written blocks (fs/partial.ts) before they are encoded. */
  complete?(): Promise<void>;
}

/** What a frozen group's files will write to the log, estimated at the freeze (fs/log-bytes.ts). */
export const frozenLogBytes = (f: Frozen): number => f.files.reduce((a, x) => a + x.logBytes, 0);

export interface Frozen {
  files: FrozenFile[];
  rawInodes: [bigint, Buffer][];  // inode values to store as they are (mkfs: the root directory)
  direntRoot: Node | null;        // the directory tree's root at freeze time
  direntFreed: Node[];            // directory-tree nodes replaced since the previous freeze
  snapOps: SnapOp[];              // snapshot creations and deletions, applied after the files
  logical?: number;               // logical transactions this physical transaction carries
  touches?: Map<bigint, Touch[]>; // nodes the cleaner relocates, by tree id (copied on write along their path)
  oplog?: OplogHead;              // where the oplog continues after this txg (default: the durable head, carried on)
}

/** A file's present blocks: their logical bytes and the record bytes they take. */
export interface DataSizes { stored: number; logical: number }

/** A node the segment cleaner relocates: found by the path to `key` at `level`, if still stored at seg/off. */
export interface Touch { tree: bigint; key: Buffer; level: number; seg: number; off: number }

/** Copies, in their own batch, the nodes the cleaner asked to relocate in tree t. */
export async function touchAll(t: CowTree, touches: Touch[] | undefined): Promise<void> {
  if (!touches?.length) return;
  await t.batch(async () => { for (const x of touches) await t.touch(x.key, x.level, x); });
}

let zeros = Buffer.alloc(0);
/** True when a block is all zeros (one memcmp against a shared zero buffer). */
const isZero = (b: Buffer): boolean => {
  if (zeros.length < b.length) zeros = Buffer.alloc(b.length);
  return b.equals(zeros.subarray(0, b.length));
};

export function keyOfBlock(lbn: number): Buffer { const k = Buffer.alloc(8); putNumBE(k, 0, lbn); return k; }

/** Returns the bytes appended to the log. */
export async function commitTxg(ds: Datastore, f: Frozen): Promise<number> {
  const txg = ds.txg + 1n;
  // large commits write the way measured faster (log/write-mode.ts), judged by what the freeze estimated
  const expected = frozenLogBytes(f);
  const direct = ds.layout.direct && ds.writeMode.direct(expected) ? ds.layout.direct : null;
  const app = new Appender(ds.layout, ds.space, txg, ds.openSeg, ds.openOff, direct);
  const slice = new Slicer(ds.sliceMs);
  await Promise.all(f.files.map((x) => (x.deleted ? undefined : x.complete?.())));
  const recordOf = await encodeBlocks(ds, f.files, txg);
  const appending = performance.now(); // the log's writes are timed from here to the end of the sync (log/write-mode.ts)
  const delta: DataSizes = { logical: 0, stored: 0 }; // applied to ds.data once the commit is durable
  const reaper = new Reaper(txg);
  const writeNode = (id: bigint, meta: boolean) => async (n: Node) => {
    await slice.pause();
    const m = { kind: RecordKind.Node, owner: id, key: BigInt(n.level), birth: txg };
    return app.append(m, ds.codec.encodeNode(m, encodeNode(n.image(), framedBuffer)), meta);
  };
  /** Writes a tree's dirty nodes; the nodes they replaced go to `drop` (default: freed). */
  const persist = async (id: bigint, root: Node | null, replaced: Node[], drop = (p: BlockPtr) => reaper.free(p)) => {
    const ptr = (await persistTree(root, writeNode(id, false))) ?? NULL_PTR;
    for (const n of replaced) if (n.ptr) drop(n.ptr);
    return ptr;
  };

  await ds.inodes.batch(async () => {
    for (const [ino, val] of f.rawInodes) await ds.inodes.put(ino2key(ino), val);
    for (const file of f.files) {
      if (file.deleted) {
        delta.logical -= file.attrs.logical; delta.stored -= file.attrs.stored;
        await freeWholeMap(file.map, reaper);
        await ds.inodes.del(ino2key(file.ino));
        continue;
      }
      const newest = ds.snapTree.root ? await ds.catalog.newestTxg(file.ino) : 0n;
      const drop = (p: BlockPtr) => reaper.drop(file.ino, newest, p);
      const sizes = await applyBlocks(file, txg, app, drop, (key) => recordOf(file, key), ds, slice);
      delta.logical += sizes.logical - file.attrs.logical; delta.stored += sizes.stored - file.attrs.stored;
      await touchAll(file.map, f.touches?.get(file.map.id));
      const root = await persist(file.map.id, file.map.root, file.map.takeFreed(), drop);
      await ds.inodes.put(ino2key(file.ino), encodeInode({ ...file.attrs, mapRoot: root, ...sizes }));
      file.done(root, sizes);
    }
  });
  await applySnapshots(ds, reaper, f.snapOps, f.files.filter((x) => x.deleted).map((x) => x.ino));
  for (const t of [ds.inodes, ds.snapTree, ds.deadTree, ds.segs]) await touchAll(t, f.touches?.get(t.id));
  const inodeRoot = await persist(ds.inodes.id, ds.inodes.root, ds.inodes.takeFreed());
  const direntRoot = await persist(ds.dirents.id, f.direntRoot, f.direntFreed);
  const snapRoot = await persist(ds.snapTree.id, ds.snapTree.root, ds.snapTree.takeFreed());
  const deadRoot = await persist(ds.deadTree.id, ds.deadTree.root, ds.deadTree.takeFreed());
  for (const p of reaper.frees) ds.space.release(p.seg, p.len);

  const segRoot = await writeSegTree(ds, app, writeNode(ds.segs.id, true));
  const next = await app.finish();
  const oplog = f.oplog ?? ds.oplog.durable;
  const slot = Number(txg % BigInt(ds.sb.commitSlots));
  await ds.layout.writeHeader(LIMITS.COMMIT_RING_OFFSET + slot * LIMITS.SLOT_SIZE, encodeCommit({
    txg, time: Date.now(), uuid: ds.sb.uuid, nextIno: ds.nextIno, segCount: ds.space.segCount,
    openSeg: next.seg, openOff: next.off, inodeRoot, direntRoot, segRoot, snapRoot, deadRoot, extents: app.extents, oplog, sbGen: ds.sb.generation,
  }, ds.signer, ds.sb.version < OPLOG_VERSION));
  await ds.layout.sync();
  if (ds.layout.direct) ds.writeMode.record(app.directBytes > 0, expected, app.bytesWritten, performance.now() - appending);
  ds.sliceYields += slice.yields;
  ds.data.logical += delta.logical; ds.data.stored += delta.stored;
  ds.txg = txg;
  ds.openSeg = next.seg;
  ds.openOff = next.off;
  ds.space.commitDone(next.seg);
  ds.oplog.committed(oplog);
  return app.bytesWritten;
}

/** The record of a file's dirty block or written sub-block, by key; undefined when it is all zeros (stored as a zero pointer). */
type RecordOf = (file: FrozenFile, key: bigint) => EncodedRecord | undefined;

/**
 * Every dirty block (or written sub-block) of the txg through the block pipeline. Blocks that
 * need only framing (no compression, no sealing) are framed one at a time as the commit appends
 * them, so the log's writes start with the first block: hashing a whole group first left the
 * target idle for a third of each commit of sequential 1 MiB writes. Otherwise every non-zero
 * one goes through the pipeline at once (compression and sealing run on the worker threads, in
 * parallel, while the event loop stays free); by file, then record key.
 */
async function encodeBlocks(ds: Datastore, files: FrozenFile[], txg: bigint): Promise<RecordOf> {
  const items: (DataItem & { file: FrozenFile })[] = [];
  const S = LIMITS.SUB_BYTES;
  for (const file of files) {
    if (file.deleted) continue;
    const add = (key: bigint, lbn: number, data: Buffer) => {
      items.push({ file, data, seal: file.seal.has(lbn), meta: { kind: RecordKind.Data, owner: file.ino, key, birth: txg } });
    };
    for (const [lbn, data] of file.blocks) {
      const subs = file.subs.get(lbn);
      if (!subs) add(BigInt(lbn), lbn, data);
      else for (const i of subs) add(subKey(lbn, i), lbn, data.subarray(i * S, (i + 1) * S));
    }
  }
  const byKey = new Map<FrozenFile, Map<bigint, DataItem>>();
  for (const x of items) {
    let m = byKey.get(x.file);
    if (!m) byKey.set(x.file, (m = new Map()));
    m.set(x.meta.key, x);
  }
  const itemOf = (file: FrozenFile, key: bigint) => byKey.get(file)?.get(key);
  if (!ds.codec.active(items)) {
    const framer = ds.codec.framer(items);
    return (file, key) => {
      const x = itemOf(file, key);
      return x && !isZero(x.data) ? framer.frame(x) : undefined;
    };
  }
  const nonZero = items.filter((x) => !isZero(x.data));
  const recs = await ds.codec.encodeData(nonZero);
  const recOf = new Map<DataItem, EncodedRecord>(nonZero.map((x, i) => [x, recs[i]]));
  return (file, key) => { const x = itemOf(file, key); return x && recOf.get(x); };
}

/**
 * Applies trims and dirty blocks (recordOf: each one's record, by key) to a file's map; `drop`
 * gets each record the map lets go. A block in `file.subs` keeps its stored base and sub-blocks
 * but the ones written; any other block replaces all of its value.
 */
async function applyBlocks(file: FrozenFile, txg: bigint, app: Appender, drop: (p: BlockPtr) => void,
  recordOf: (key: bigint) => EncodedRecord | undefined, ds: Datastore, slice: Slicer): Promise<DataSizes> {
  const bs = ds.blockSize, S = LIMITS.SUB_BYTES;
  let { stored, logical } = file.attrs;
  const dropPtr = (p: BlockPtr, bytes: number) => { if (p.state === ExtentState.Present) { drop(p); stored -= p.len; logical -= bytes; } };
  const dropValue = (v: MapValue) => { dropPtr(v.base, bs); for (const s of v.subs) dropPtr(s.ptr, S); };
  /** The new record under `key` (none: all zeros, encodeBlocks checked). */
  const place = (key: bigint, bytes: number): BlockPtr => {
    const rec = recordOf(key);
    if (!rec) return zeroPtr(txg);
    const ptr = app.append({ kind: RecordKind.Data, owner: file.ino, key, birth: txg }, rec);
    stored += ptr.len; logical += bytes;
    if (bytes === bs) ds.written.blocks++; else ds.written.subBlocks++;
    return ptr;
  };
  await file.map.batch(async () => {
    if (file.trimFrom !== null) {
      const doomed: [Buffer, Buffer][] = [];
      for await (const e of file.map.scan(keyOfBlock(file.trimFrom))) doomed.push(e);
      for (const [k, v] of doomed) { dropValue(decodeMapValue(v, ds.subsPerBlock)); await file.map.del(k); }
    }
    for (const lbn of [...file.blocks.keys()].sort((a, b) => a - b)) {
      await slice.pause();
      if (app.full) await app.ready();
      const key = keyOfBlock(lbn);
      const raw = await file.map.get(key, file.map.current);
      const old = raw ? decodeMapValue(raw, ds.subsPerBlock) : null;
      const written = file.subs.get(lbn);
      if (!written) {
        if (old) dropValue(old);
        await file.map.put(key, encodeMapValue({ base: place(BigInt(lbn), bs), subs: [] }));
        continue;
      }
      const subs = new Map((old?.subs ?? []).map((s) => [s.index, s.ptr]));
      for (const i of written) {
        const was = subs.get(i);
        if (was) dropPtr(was, S);
        subs.set(i, place(subKey(lbn, i), S));
      }
      invariant(subs.size <= ds.maxSubs, 'a block holds at most maxSubs sub-blocks (limitSubs checked)');
      const sorted = [...subs].sort((a, b) => a[0] - b[0]).map(([index, ptr]) => ({ index, ptr }));
      let base = old?.base ?? zeroPtr(txg);
      // Every sub-block laid over it: nothing of the base is read any more, and it goes.
      if (subs.size === ds.subsPerBlock && base.state === ExtentState.Present) { dropPtr(base, bs); base = zeroPtr(txg); }
      await file.map.put(key, encodeMapValue({ base, subs: sorted }));
    }
  });
  return { stored, logical };
}

/** A deleted file's whole map is freed (its snapshots go with it: snap/apply.ts). */
async function freeWholeMap(map: CowTree, r: Reaper): Promise<void> {
  const walk = async (n: Node): Promise<void> => {
    await map.load(n);
    if (n.leaf) for (const v of n.vals) for (const p of presentPtrs(decodeMapValue(v))) r.free(p);
    for (const kid of n.kids) await walk(kid);
    if (n.ptr) r.free(n.ptr);
  };
  if (map.root) await walk(map.root);
  for (const n of map.takeFreed()) if (n.ptr) r.free(n.ptr);
}

/** Rewrites changed segment-usage entries; the tree's own nodes are counted apart (see SegmentSpace). */
async function writeSegTree(ds: Datastore, app: Appender, write: (n: Node) => Promise<BlockPtr>): Promise<BlockPtr> {
  await ds.segs.batch(async () => {
    for (const s of [...ds.space.changed].sort((a, b) => a - b)) {
      const k = Buffer.alloc(4); k.writeUInt32BE(s);
      const live = ds.space.live[s];
      if (live === 0) await ds.segs.del(k);
      else { const v = Buffer.alloc(4); v.writeUInt32LE(live); await ds.segs.put(k, v); }
    }
  });
  ds.space.changed.clear();
  const root = (await persistTree(ds.segs.root, write)) ?? NULL_PTR;
  for (const n of ds.segs.takeFreed()) if (n.ptr) ds.space.release(n.ptr.seg, n.ptr.len, true);
  return root;
}

