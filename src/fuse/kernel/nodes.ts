/**
 * The kernel names files by node id; vdfs's filesystem by path. A node is one (directory, name)
 * the kernel has looked up: its path is found by walking up to the root, so a rename moves a
 * whole subtree by changing one node. A node lives while the kernel holds lookups of it or of a
 * node below it; ids are never reused, so the generation is always 0.
 */
import { fail } from '../../errors.js';

export const ROOT_ID = 1;

export interface Node {
  id: number;
  parent: Node | null;
  name: string;
  /** Lookups the kernel holds (each LOOKUP/CREATE/MKDIR/... reply adds one; FORGET takes them back). */
  lookups: number;
  children: Map<string, Node>;
  /** Open file handles through this node (an unlinked open file is renamed aside until its last release). */
  opens: number;
  /** Removed from the namespace: the path no longer exists (the kernel may still name it until FORGET). */
  gone: boolean;
  /** Unlinked (or renamed over) while open: set aside under a .fuse_hidden name; true once that rename is done. */
  hidden?: { done: boolean };
}

export class NodeTable {
  private byId = new Map<number, Node>();
  private nextId = ROOT_ID + 1;
  readonly root: Node = { id: ROOT_ID, parent: null, name: '', lookups: 1, children: new Map(), opens: 0, gone: false };

  constructor() { this.byId.set(ROOT_ID, this.root); }

  get size(): number { return this.byId.size; }

  get(id: number): Node {
    const n = this.byId.get(id);
    if (!n) fail('BAD_HANDLE', `no node ${id}`);
    return n!;
  }

  path(n: Node): string {
    if (!n.parent) return '/';
    const parts: string[] = [];
    for (let x: Node | null = n; x && x.parent; x = x.parent) parts.push(x.name);
    return '/' + parts.reverse().join('/');
  }

  childPath(dir: Node, name: string): string {
    return dir.parent ? `${this.path(dir)}/${name}` : `/${name}`;
  }

  /** The node for dir/name, made if new; one more lookup held by the kernel. */
  lookup(dir: Node, name: string): Node {
    let n = dir.children.get(name);
    if (!n) {
      n = { id: this.nextId++, parent: dir, name, lookups: 0, children: new Map(), opens: 0, gone: false };
      dir.children.set(name, n);
      this.byId.set(n.id, n);
    }
    n.lookups++;
    return n;
  }

  /** The kernel gave back `count` lookups of node `id`. */
  forget(id: number, count: number): void {
    const n = this.byId.get(id);
    if (!n || n === this.root) return;
    n.lookups = Math.max(0, n.lookups - count);
    this.prune(n);
  }

  /** dir/name no longer exists (unlinked, or replaced by a rename). */
  remove(dir: Node, name: string): void {
    const n = dir.children.get(name);
    if (!n) return;
    dir.children.delete(name);
    n.gone = true;
    this.prune(n);
  }

  /** dir/name moved to to/toName (replacing whatever was there). */
  move(dir: Node, name: string, to: Node, toName: string): void {
    const n = dir.children.get(name);
    this.remove(to, toName);
    if (!n) return;
    dir.children.delete(name);
    n.parent = to; n.name = toName;
    to.children.set(toName, n);
    this.prune(dir);
  }

  /** Drops a node nobody names any more, and then its parent if that became unnamed too. */
  private prune(n: Node): void {
    for (let x: Node | null = n; x && x !== this.root && x.lookups === 0 && x.children.size === 0 && x.opens === 0; x = x.parent) {
      this.byId.delete(x.id);
      const p: Node | null = x.parent;
      if (p && p.children.get(x.name) === x) p.children.delete(x.name);
      if (!p) break;
    }
  }

  /** After a release: a node whose last handle closed may now be dropped. */
  released(n: Node): void { this.prune(n); }
}
