/**
 * Copy-on-write B+tree over byte-string keys and values.
 *
 * Every mutation runs inside a batch (`begin` … `publish`) with its own generation: nodes of
 * that generation are private to the batch and change in place; every other node is shared
 * (reachable from a published root, possibly from a snapshot or a commit being written) and is
 * copied before it changes. So a root, once published, never changes: readers use `root` with
 * no lock, and an old root keeps reading its old contents.
 *
 * A node replaced by its copy is recorded in `freed`, so the commit can release its space.
 */
import { invariant, LIMITS } from '../limits.js';
import { BlockPtr, ExtentState } from '../format/ptr.js';
import { compareKeys, innerEntryBytes, leafEntryBytes, NODE_HEADER, NodeImage } from './node-codec.js';

let generation = 0;
const nextGeneration = () => ++generation;

export class Node {
  loaded = false;
  loading: Promise<void> | null = null;
  leaf = true;
  level = 0;
  keys: Buffer[] = [];
  vals: Buffer[] = [];
  kids: Node[] = [];
  bytes = NODE_HEADER;
  constructor(public gen: number, public ptr: BlockPtr | null) {}

  static stub(ptr: BlockPtr): Node { return new Node(0, ptr); }
  static empty(gen: number, leaf: boolean, level: number): Node {
    const n = new Node(gen, null);
    n.loaded = true; n.leaf = leaf; n.level = level;
    return n;
  }
  fill(img: NodeImage): void {
    this.leaf = img.leaf; this.level = img.level; this.keys = img.keys; this.vals = img.vals;
    this.kids = img.kids.map((p) => Node.stub(p));
    this.bytes = NODE_HEADER;
    for (let i = 0; i < this.keys.length; i++) this.bytes += this.entryBytes(i);
    this.loaded = true;
  }
  entryBytes(i: number): number {
    return this.leaf ? leafEntryBytes(this.keys[i], this.vals[i]) : innerEntryBytes(this.keys[i]);
  }
  image(): NodeImage {
    return { leaf: this.leaf, level: this.level, keys: this.keys, vals: this.vals, kids: this.kids.map((k) => { invariant(k.ptr, 'child persisted before parent'); return k.ptr; }) };
  }
}

/** Loads a persisted node (verifying its record) for a tree. */
export type NodeLoader = (ptr: BlockPtr, treeId: bigint) => Promise<NodeImage>;

/** Binary search: first index with keys[i] >= key. */
function lowerBound(keys: Buffer[], key: Buffer): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid], key) < 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Child of an internal node that covers key: the last whose lower bound is <= key (or 0). */
function childIndex(n: Node, key: Buffer): number {
  let lo = 0, hi = n.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(n.keys[mid], key) <= 0) lo = mid + 1; else hi = mid;
  }
  return Math.max(0, lo - 1);
}

export class CowTree {
  /** The published root; null is the empty tree. */
  root: Node | null;
  /** Nodes replaced by copies since the last `takeFreed` (persisted ones carry a ptr by commit time). */
  private freed: Node[] = [];
  private work: Node | null = null;
  private gen = 0;
  private inBatch = false;

  constructor(readonly id: bigint, private loader: NodeLoader, rootPtr: BlockPtr | null) {
    this.root = rootPtr && rootPtr.state === ExtentState.Present ? Node.stub(rootPtr) : null;
  }

  /** The root mutations see: inside a batch its working tree, else the published root. */
  get current(): Node | null { return this.inBatch ? this.work : this.root; }

  async load(n: Node): Promise<Node> {
    if (n.loaded) return n;
    if (!n.loading) {
      invariant(n.ptr, 'stub node has a pointer');
      n.loading = this.loader(n.ptr, this.id).then((img) => n.fill(img)).finally(() => { n.loading = null; });
    }
    await n.loading;
    return n;
  }

  /** Looks key up under root (default: the published root; a batch passes `current` to see its own changes). */
  async get(key: Buffer, root: Node | null = this.root): Promise<Buffer | undefined> {
    let n = root;
    while (n) {
      if (!n.loaded) await this.load(n);
      if (n.leaf) {
        const i = lowerBound(n.keys, key);
        return i < n.keys.length && compareKeys(n.keys[i], key) === 0 ? n.vals[i] : undefined;
      }
      n = n.kids[childIndex(n, key)];
    }
    return undefined;
  }

  /** Entries with from <= key < to, in key order (either bound may be omitted). */
  async *scan(from?: Buffer, to?: Buffer, root: Node | null = this.root): AsyncGenerator<[Buffer, Buffer]> {
    if (root) yield* this.scanNode(root, from, to);
  }

  private async *scanNode(n: Node, from?: Buffer, to?: Buffer): AsyncGenerator<[Buffer, Buffer]> {
    if (!n.loaded) await this.load(n);
    if (n.leaf) {
      for (let i = from ? lowerBound(n.keys, from) : 0; i < n.keys.length; i++) {
        if (to && compareKeys(n.keys[i], to) >= 0) return;
        yield [n.keys[i], n.vals[i]];
      }
      return;
    }
    for (let i = from ? childIndex(n, from) : 0; i < n.kids.length; i++) {
      if (to && i > 0 && compareKeys(n.keys[i], to) >= 0) return;
      yield* this.scanNode(n.kids[i], from, to);
    }
  }

  begin(): void {
    invariant(!this.inBatch, 'one batch at a time per tree');
    this.inBatch = true;
    this.gen = nextGeneration();
    this.work = this.root;
  }

  publish(): void {
    invariant(this.inBatch, 'publish inside a batch');
    this.root = this.work;
    this.inBatch = false;
  }

  /** Runs fn as one batch and publishes its result (also when fn throws part-way: the tree stays valid). */
  async batch<T>(fn: () => Promise<T>): Promise<T> {
    this.begin();
    try { return await fn(); } finally { this.publish(); }
  }

  takeFreed(): Node[] { const f = this.freed; this.freed = []; return f; }

  private own(n: Node): Node {
    invariant(n.loaded, 'own a loaded node');
    if (n.gen === this.gen) return n;
    const c = Node.empty(this.gen, n.leaf, n.level);
    c.keys = n.keys.slice(); c.vals = n.vals.slice(); c.kids = n.kids.slice(); c.bytes = n.bytes;
    this.freed.push(n);
    return c;
  }

  async put(key: Buffer, val: Buffer): Promise<void> {
    invariant(this.inBatch, 'put inside a batch');
    invariant(key.length <= LIMITS.KEY_MAX_BYTES && val.length <= LIMITS.VALUE_MAX_BYTES, 'key/value within limits');
    if (!this.work) this.work = Node.empty(this.gen, true, 0);
    const root = this.own(await this.load(this.work));
    this.work = root;
    const split = await this.putIn(root, key, val);
    if (split) {
      const r = Node.empty(this.gen, false, root.level + 1);
      r.keys = [root.keys[0], split.keys[0]];
      r.kids = [root, split];
      r.bytes = NODE_HEADER + innerEntryBytes(r.keys[0]) + innerEntryBytes(r.keys[1]);
      this.work = r;
    }
  }

  private async putIn(n: Node, key: Buffer, val: Buffer): Promise<Node | null> {
    if (n.leaf) {
      const i = lowerBound(n.keys, key);
      if (i < n.keys.length && compareKeys(n.keys[i], key) === 0) {
        n.bytes += val.length - n.vals[i].length;
        n.vals[i] = val;
      } else {
        n.keys.splice(i, 0, key); n.vals.splice(i, 0, val);
        n.bytes += leafEntryBytes(key, val);
      }
    } else {
      const i = childIndex(n, key);
      if (i === 0 && compareKeys(key, n.keys[0]) < 0) {
        n.bytes += key.length - n.keys[0].length;
        n.keys[0] = key;
      }
      const kid = this.own(await this.load(n.kids[i]));
      n.kids[i] = kid;
      const split = await this.putIn(kid, key, val);
      if (split) {
        n.keys.splice(i + 1, 0, split.keys[0]); n.kids.splice(i + 1, 0, split);
        n.bytes += innerEntryBytes(split.keys[0]);
      }
    }
    return n.bytes > LIMITS.NODE_SPLIT_BYTES && n.keys.length > 2 ? this.split(n) : null;
  }

  /** Moves the upper half (by bytes) of n into a new right sibling and returns it. */
  private split(n: Node): Node {
    let acc = NODE_HEADER, at = 0;
    while (at < n.keys.length - 1 && acc < n.bytes / 2) acc += n.entryBytes(at++);
    at = Math.max(1, at);
    const r = Node.empty(this.gen, n.leaf, n.level);
    r.keys = n.keys.splice(at);
    if (n.leaf) r.vals = n.vals.splice(at); else r.kids = n.kids.splice(at);
    r.bytes = NODE_HEADER;
    for (let i = 0; i < r.keys.length; i++) r.bytes += r.entryBytes(i);
    n.bytes -= r.bytes - NODE_HEADER;
    return r;
  }

  /** Whether the node on the path to `key` at `level` is the one stored at `at` (read only, published root). */
  async holds(key: Buffer, level: number, at: { seg: number; off: number }, root: Node | null = this.root): Promise<boolean> {
    let n = root;
    while (n) {
      await this.load(n);
      if (n.level === level) return n.ptr?.seg === at.seg && n.ptr.off === at.off;
      if (n.leaf) return false;
      n = n.kids[childIndex(n, key)];
    }
    return false;
  }

  /**
   * Copies the nodes on the path to `key` down to `level`, when the node there is the one
   * stored at `at` (the cleaner relocating it: the copy is written elsewhere at the next commit
   * and the old one is freed). Returns whether it did.
   */
  async touch(key: Buffer, level: number, at: { seg: number; off: number }): Promise<boolean> {
    invariant(this.inBatch, 'touch inside a batch');
    if (!(await this.holds(key, level, at, this.work))) return false;
    let cur = this.own(await this.load(this.work!));
    this.work = cur;
    while (cur.level > level) {
      const i = childIndex(cur, key);
      const kid = this.own(await this.load(cur.kids[i]));
      cur.kids[i] = kid;
      cur = kid;
    }
    return true;
  }

  /** Deletes key; returns whether it was there. */
  async del(key: Buffer): Promise<boolean> {
    invariant(this.inBatch, 'del inside a batch');
    if (!this.work || (await this.get(key, this.work)) === undefined) return false;
    let root = this.own(await this.load(this.work));
    await this.delIn(root, key);
    while (!root.leaf && root.kids.length === 1) root = await this.load(root.kids[0]);
    this.work = root.leaf && root.keys.length === 0 ? null : root;
    return true;
  }

  private async delIn(n: Node, key: Buffer): Promise<void> {
    if (n.leaf) {
      const i = lowerBound(n.keys, key);
      invariant(i < n.keys.length && compareKeys(n.keys[i], key) === 0, 'deleted key present');
      n.bytes -= n.entryBytes(i);
      n.keys.splice(i, 1); n.vals.splice(i, 1);
      return;
    }
    const i = childIndex(n, key);
    const kid = this.own(await this.load(n.kids[i]));
    n.kids[i] = kid;
    await this.delIn(kid, key);
    if (kid.keys.length === 0) this.removeChild(n, i);
    else if (kid.bytes < LIMITS.NODE_SPLIT_BYTES / 4 && n.kids.length > 1) await this.mergeNeighbour(n, i);
  }

  private removeChild(n: Node, i: number): void {
    n.bytes -= innerEntryBytes(n.keys[i]);
    n.keys.splice(i, 1); n.kids.splice(i, 1);
  }

  private async mergeNeighbour(n: Node, i: number): Promise<void> {
    const l = i > 0 ? i - 1 : i;
    const left = await this.load(n.kids[l]);
    const right = await this.load(n.kids[l + 1]);
    if (left.bytes + right.bytes - NODE_HEADER > LIMITS.NODE_SPLIT_BYTES) return;
    const into = this.own(left);
    const from = right; // read only: its entries move into `into`, the node itself is dropped
    if (right.gen !== this.gen) this.freed.push(right);
    into.keys = into.keys.concat(from.keys);
    if (into.leaf) into.vals = into.vals.concat(from.vals); else into.kids = into.kids.concat(from.kids);
    into.bytes += from.bytes - NODE_HEADER;
    n.kids[l] = into;
    this.removeChild(n, l + 1);
  }
}

/**
 * Writes every node not yet persisted under root, children before parents, via write; returns
 * the root's pointer. Nodes persisted already (ptr set) are shared and skipped with their subtree.
 */
export async function persistTree(root: Node | null, write: (n: Node) => Promise<BlockPtr>): Promise<BlockPtr | null> {
  if (!root) return null;
  if (root.ptr) return root.ptr;
  invariant(root.loaded, 'dirty node is loaded');
  for (const kid of root.kids) if (!kid.ptr) await persistTree(kid, write);
  root.ptr = await write(root);
  return root.ptr;
}
