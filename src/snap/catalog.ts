/**
 * The snapshot catalog: each file's snapshots, read from the snapshot tree and cached. Only a
 * commit changes the tree (see snap/apply.ts); it keeps the cache in step, so readers never
 * scan a tree in the middle of a batch. The namespace forgets a file's entry when it evicts the
 * file's vnode, so the cache is bounded by INODE_CACHE.
 */
import { CowTree } from '../meta/btree.js';
import { decodeHeader, decodeSnap, HEADER_ID, keyId, SnapHeader, SnapInfo, snapKey } from './record.js';

export interface FileSnaps { header: SnapHeader; snaps: SnapInfo[] }

/** Order of snapshots in time: by txg, then by id (two taken in one txg share their blocks). */
export const byTime = (a: SnapInfo, b: SnapInfo): number => (a.txg === b.txg ? a.id - b.id : a.txg < b.txg ? -1 : 1);

export class SnapCatalog {
  private cache = new Map<bigint, Promise<FileSnaps>>();
  constructor(readonly tree: CowTree) {}

  /** A file's header and snapshots, oldest first. */
  of(ino: bigint): Promise<FileSnaps> {
    let p = this.cache.get(ino);
    if (!p) {
      p = this.load(ino);
      this.cache.set(ino, p);
      p.catch(() => this.cache.delete(ino));
    }
    return p;
  }

  private async load(ino: bigint): Promise<FileSnaps> {
    const out: FileSnaps = { header: { nextId: 1, liveParent: 0 }, snaps: [] };
    for await (const [k, v] of this.tree.scan(snapKey(ino, HEADER_ID), snapKey(ino + 1n, HEADER_ID))) {
      if (keyId(k) === HEADER_ID) out.header = decodeHeader(v);
      else out.snaps.push(decodeSnap(k, v));
    }
    out.snaps.sort(byTime);
    return out;
  }

  async find(ino: bigint, name: string): Promise<SnapInfo | undefined> {
    return (await this.of(ino)).snaps.find((s) => s.name === name);
  }

  /** Txg of the file's newest snapshot (0: none): records born after it are held by the live map alone. */
  async newestTxg(ino: bigint): Promise<bigint> {
    const s = (await this.of(ino)).snaps;
    return s.length ? s[s.length - 1].txg : 0n;
  }

  forget(ino: bigint): void { this.cache.delete(ino); }
}
