/**
 * The commit's side of snapshots: records a file's live map drops are freed or dead-listed
 * (Reaper), and snapshot creations and deletions are applied to the snapshot and dead-list
 * trees. All of it runs inside the commit of one transaction group (txn/commit.ts).
 */
import { BlockPtr, decodePtr, encodePtr, ExtentState } from '../format/ptr.js';
import { decodeInode, ino2key } from '../meta/inode.js';
import type { Datastore } from '../txn/datastore.js';
import { byTime, FileSnaps } from './catalog.js';
import { deadBirth, deadEnd, deadFrom, deadKey } from './deadlist.js';
import { encodeHeader, encodeSnap, HEADER_ID, SnapInfo, snapKey } from './record.js';

export type SnapOp =
  | { kind: 'create'; ino: bigint; name: string; created: number }
  | { kind: 'delete'; ino: bigint; name: string }
  | { kind: 'parent'; ino: bigint; name: ''; id: number }; // the live file now descends from snapshot id (restore)

/** Decides, for each record a live map drops, between freeing it now and dead-listing it. */
export class Reaper {
  readonly frees: BlockPtr[] = [];
  readonly dead: [Buffer, Buffer][] = [];
  constructor(readonly txg: bigint) {}

  /** A record of file ino left its live map; `newest` is the txg of the file's newest snapshot (0: none). */
  drop(ino: bigint, newest: bigint, p: BlockPtr): void {
    if (p.state !== ExtentState.Present) return;
    if (p.birth > newest) this.frees.push(p);
    else this.dead.push([deadKey(ino, this.txg, p), encodePtr(p)]);
  }

  free(p: BlockPtr): void { if (p.state === ExtentState.Present) this.frees.push(p); }
}

/** Applies dead-list entries, snapshot operations and deleted files' snapshot state. */
export async function applySnapshots(ds: Datastore, r: Reaper, ops: SnapOp[], deleted: bigint[]): Promise<void> {
  const gone = new Set(deleted);
  await ds.snapTree.batch(() => ds.deadTree.batch(async () => {
    for (const [k, v] of r.dead) await ds.deadTree.put(k, v);
    for (const op of ops) {
      if (gone.has(op.ino)) continue;
      if (op.kind === 'create') await create(ds, r.txg, op);
      else if (op.kind === 'delete') await remove(ds, r, op.ino, op.name);
      else await setLiveParent(ds, op.ino, op.id);
    }
    for (const ino of deleted) await dropFile(ds, r, ino);
  }));
}

async function create(ds: Datastore, txg: bigint, op: { ino: bigint; name: string; created: number }): Promise<void> {
  const raw = await ds.inodes.get(ino2key(op.ino));
  if (!raw) return;
  const inode = decodeInode(raw);
  const fs = await ds.catalog.of(op.ino);
  if (fs.snaps.some((s) => s.name === op.name)) return; // checked before queuing; kept for safety
  const info: SnapInfo = {
    ino: op.ino, id: fs.header.nextId, name: op.name, txg, created: op.created,
    parent: fs.header.liveParent, size: inode.size, mapRoot: inode.mapRoot,
  };
  fs.header = { nextId: info.id + 1, liveParent: info.id };
  await ds.snapTree.put(snapKey(op.ino, info.id), encodeSnap(info));
  await ds.snapTree.put(snapKey(op.ino, HEADER_ID), encodeHeader(fs.header));
  fs.snaps.push(info);
  fs.snaps.sort(byTime);
}

async function remove(ds: Datastore, r: Reaper, ino: bigint, name: string): Promise<void> {
  const fs = await ds.catalog.of(ino);
  const at = fs.snaps.findIndex((s) => s.name === name);
  if (at < 0) return;
  const s = fs.snaps[at], prev = fs.snaps[at - 1], next = fs.snaps[at + 1];
  const to = next ? deadFrom(ino, next.txg) : deadEnd(ino);
  const doomed: Buffer[] = [];
  for await (const [k, v] of ds.deadTree.scan(deadFrom(ino, s.txg), to, ds.deadTree.current)) {
    if (deadBirth(k) > (prev?.txg ?? 0n)) { r.free(decodePtr(v)); doomed.push(k); }
  }
  for (const k of doomed) await ds.deadTree.del(k);
  await reparent(ds, fs, s);
  fs.snaps.splice(at, 1);
  await ds.snapTree.del(snapKey(ino, s.id));
}

async function setLiveParent(ds: Datastore, ino: bigint, id: number): Promise<void> {
  const fs = await ds.catalog.of(ino);
  if (!fs.snaps.some((s) => s.id === id)) return; // deleted meanwhile: the live file keeps its parent
  fs.header = { ...fs.header, liveParent: id };
  await ds.snapTree.put(snapKey(ino, HEADER_ID), encodeHeader(fs.header));
}

/** The deleted snapshot's children (and the live file) hang from its parent from now on. */
async function reparent(ds: Datastore, fs: FileSnaps, s: SnapInfo): Promise<void> {
  for (const c of fs.snaps) {
    if (c.parent !== s.id) continue;
    c.parent = s.parent;
    await ds.snapTree.put(snapKey(c.ino, c.id), encodeSnap(c));
  }
  if (fs.header.liveParent === s.id) {
    fs.header = { ...fs.header, liveParent: s.parent };
    await ds.snapTree.put(snapKey(s.ino, HEADER_ID), encodeHeader(fs.header));
  }
}

/** A deleted file takes its snapshots with it: every dead-listed record is freed. */
async function dropFile(ds: Datastore, r: Reaper, ino: bigint): Promise<void> {
  const dead: Buffer[] = [];
  for await (const [k, v] of ds.deadTree.scan(deadFrom(ino, -1n), deadEnd(ino), ds.deadTree.current)) {
    r.free(decodePtr(v));
    dead.push(k);
  }
  for (const k of dead) await ds.deadTree.del(k);
  const snaps: Buffer[] = [];
  for await (const [k] of ds.snapTree.scan(snapKey(ino, HEADER_ID), snapKey(ino + 1n, HEADER_ID), ds.snapTree.current)) snaps.push(k);
  for (const k of snaps) await ds.snapTree.del(k);
  ds.catalog.forget(ino);
}
