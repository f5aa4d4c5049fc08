/**
 * An independent recount of segment space: every record reachable from the trees — global
 * trees, each file's live map, every snapshot's map, every dead-list entry — counted once, per
 * segment, against what SegmentSpace says is live. A leak or a double free shows as a mismatch.
 */
import { BlockPtr, ExtentState } from '../../src/format/ptr.js';
import { decodeMapValue, presentPtrs } from '../../src/format/map-value.js';
import { CowTree, Node } from '../../src/meta/btree.js';
import { decodeInode, key2ino } from '../../src/meta/inode.js';
import { decodeSnap } from '../../src/snap/record.js';
import { Datastore, mapTreeId } from '../../src/txn/datastore.js';

export async function recountSpace(ds: Datastore): Promise<{ mismatches: string[]; live: number }> {
  const seen = new Set<string>();
  const per = new Map<number, number>();
  const count = (p: BlockPtr) => {
    if (p.state !== ExtentState.Present) return;
    const id = `${p.seg}:${p.off}`;
    if (seen.has(id)) return;
    seen.add(id);
    per.set(p.seg, (per.get(p.seg) ?? 0) + p.len);
  };
  const walk = async (t: CowTree, n: Node | null, values: boolean): Promise<void> => {
    if (!n) return;
    await t.load(n);
    if (n.ptr) count(n.ptr);
    if (n.leaf && values) for (const v of n.vals) for (const p of presentPtrs(decodeMapValue(v))) count(p); // map values and dead-list pointers alike
    for (const k of n.kids) await walk(t, k, values);
  };
  for (const t of [ds.inodes, ds.dirents, ds.segs, ds.snapTree]) await walk(t, t.root, false);
  await walk(ds.deadTree, ds.deadTree.root, true);
  for await (const [k, v] of ds.inodes.scan()) {
    const ino = key2ino(k);
    const t = new CowTree(mapTreeId(ino), ds.loader, decodeInode(v).mapRoot);
    await walk(t, t.root, true);
  }
  for await (const [k, v] of ds.snapTree.scan()) {
    if (k.readUInt32BE(8) === 0) continue;
    const s = decodeSnap(k, v);
    const t = new CowTree(mapTreeId(s.ino), ds.loader, s.mapRoot);
    await walk(t, t.root, true);
  }
  const mismatches: string[] = [];
  let live = 0;
  for (let s = 0; s < ds.space.segCount; s++) {
    const have = ds.space.live[s] + ds.space.metaLive[s], want = per.get(s) ?? 0;
    live += want;
    if (have !== want) mismatches.push(`segment ${s}: space says ${have} live bytes, the trees reach ${want}`);
  }
  return { mismatches, live };
}
