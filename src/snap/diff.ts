/**
 * Diff of two block maps of one file (copy-on-write B+trees that share subtrees): both trees are
 * walked top-down together, a level at a time; a node present in both frontiers is the same
 * subtree (same location and checksum) and is dropped from both unread. What is left at the
 * leaves is compared entry by entry. So the work is proportional to what differs.
 */
import type { BlockPtr } from '../format/ptr.js';
import { decodeMapValue, MapValue, sameContent } from '../format/map-value.js';
import { CowTree, Node, NodeLoader } from '../meta/btree.js';
import { invariant } from '../limits.js';
import { getNumBE } from '../codec/u64.js';

export interface MapDiff {
  /** Leaf entries compared (entries under shared subtrees are never looked at). */
  compared: number;
  /** Nodes read from either tree. */
  nodesRead: number;
  /** Blocks whose entry differs: the entry of tree `b` (null: b has none), in block order. */
  changes: { lbn: number; to: MapValue | null }[];
}

/** Persisted trees only: every node has a location, and equal locations + checksums mean one subtree. */
const nodeId = (n: Node): string => { invariant(n.ptr, 'diffed nodes are persisted'); return `${n.ptr.seg}:${n.ptr.off}:${n.ptr.checksum}:${n.ptr.sealed ? 1 : 0}`; };

function sameEntry(x: Buffer | undefined, y: Buffer | undefined): boolean {
  if (!x || !y) return x === y;
  return sameContent(x, y); // zeros read the same whatever their birth
}

export async function diffMaps(loader: NodeLoader, treeId: bigint, a: BlockPtr, b: BlockPtr): Promise<MapDiff> {
  const ta = new CowTree(treeId, loader, a), tb = new CowTree(treeId, loader, b);
  let fa: Node[] = ta.root ? [ta.root] : [], fb: Node[] = tb.root ? [tb.root] : [];
  let nodesRead = 0;
  for (;;) {
    const ia = new Set(fa.map(nodeId)), ib = new Set(fb.map(nodeId));
    fa = fa.filter((n) => !ib.has(nodeId(n)));
    fb = fb.filter((n) => !ia.has(nodeId(n)));
    for (const n of [...fa, ...fb]) if (!n.loaded) nodesRead++;
    await Promise.all([...fa.map((n) => ta.load(n)), ...fb.map((n) => tb.load(n))]);
    const top = Math.max(-1, ...[...fa, ...fb].filter((n) => !n.leaf).map((n) => n.level));
    if (top < 0) break;
    const expand = (f: Node[]) => f.flatMap((n) => (!n.leaf && n.level === top ? n.kids : [n]));
    fa = expand(fa); fb = expand(fb);
  }
  const entries = (f: Node[]) => {
    const m = new Map<number, Buffer>();
    for (const n of f) n.keys.forEach((k, i) => m.set(getNumBE(k, 0), n.vals[i]));
    return m;
  };
  const ma = entries(fa), mb = entries(fb);
  const all = new Set([...ma.keys(), ...mb.keys()]);
  const changes: MapDiff['changes'] = [];
  for (const lbn of [...all].sort((x, y) => x - y)) {
    const x = ma.get(lbn), y = mb.get(lbn);
    if (!sameEntry(x, y)) changes.push({ lbn, to: y ? decodeMapValue(y) : null });
  }
  return { compared: all.size, nodesRead, changes };
}
