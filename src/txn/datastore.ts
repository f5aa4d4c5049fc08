/**
 * The datastore: superblock, commit ring, trees and segment space over a layout; mkfs, open
 * (recovery to the newest valid commit) and the reading of records. Committing a transaction
 * group lives in commit.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Layout } from '../backing/layout.js';
import { decodeRecord, RecordKind } from '../codec/record.js';
import { decodeCommit, CommitRecord } from '../format/commit.js';
import { BlockPtr, NULL_PTR } from '../format/ptr.js';
import { decodeSuperblock, encodeSuperblock, FORMAT_VERSION, SB_COPIES, Superblock } from '../format/superblock.js';
import { CowTree, Node, NodeLoader } from '../meta/btree.js';
import { decodeNode, NodeImage } from '../meta/node-codec.js';
import { encodeInode, ino2key, newAttrs, S_IFDIR } from '../meta/inode.js';
import { SegmentSpace } from '../log/space.js';
import { LIMITS } from '../limits.js';
import { VdfsError } from '../errors.js';
import { streamXxh64 } from '../codec/checksum.js';
import { commitTxg, Frozen } from './commit.js';
import { SnapCatalog } from '../snap/catalog.js';

export const TREE_INODES = 1n, TREE_DIRENTS = 2n, TREE_SEGS = 3n, TREE_SNAPS = 4n, TREE_DEAD = 5n;
export const ROOT_INO = 1n;
export const FIRST_USER_INO = 16n;
/** A file's block map has tree id ino | MAP_BIT; the global trees have small ids. */
export const MAP_BIT = 1n << 63n;
export const mapTreeId = (ino: bigint) => ino | MAP_BIT;

export interface MkfsOptions { blockSize?: number; segmentSize?: number }

export class Datastore {
  inodes!: CowTree;
  dirents!: CowTree;
  segs!: CowTree;
  snapTree!: CowTree;
  deadTree!: CowTree;
  catalog!: SnapCatalog;
  space!: SegmentSpace;
  txg = 0n;
  nextIno = FIRST_USER_INO;
  openSeg = 0;
  openOff = 0;
  lastCommit: { txg: bigint; time: number; bytes: number; ms: number } | null = null;
  commits = 0;

  private constructor(readonly layout: Layout, readonly sb: Superblock) {}

  get blockSize(): number { return this.sb.blockSize; }

  static async mkfs(layout: Layout, opts: MkfsOptions = {}): Promise<Datastore> {
    const sb: Superblock = {
      version: FORMAT_VERSION,
      blockSize: opts.blockSize ?? LIMITS.BLOCK_SIZE,
      segmentSize: opts.segmentSize ?? LIMITS.SEGMENT_SIZE,
      commitSlots: LIMITS.COMMIT_SLOTS,
      uuid: randomBytes(16),
      created: Date.now(),
    };
    const sbBytes = encodeSuperblock(sb);
    decodeSuperblock(sbBytes); // validates the options
    // Clear the commit ring so no older datastore's commits can be found, then the superblocks.
    await layout.writeHeader(LIMITS.COMMIT_RING_OFFSET, Buffer.alloc(sb.commitSlots * LIMITS.SLOT_SIZE));
    for (const at of SB_COPIES) await layout.writeHeader(at, sbBytes);
    const ds = new Datastore(layout, sb);
    ds.space = new SegmentSpace(1, sb.segmentSize);
    ds.initTrees(NULL_PTR, NULL_PTR, NULL_PTR, NULL_PTR, NULL_PTR);
    const root = newAttrs(S_IFDIR | 0o755, 0, 0);
    root.nlink = 2;
    await ds.commit({ files: [], rawInodes: [[ROOT_INO, encodeInode(root)]], direntRoot: null, direntFreed: [], snapOps: [] });
    return ds;
  }

  static async open(layout: Layout): Promise<Datastore> {
    const sb = await readSuperblock(layout);
    const ds = new Datastore(layout, sb);
    const c = await ds.newestValidCommit();
    ds.txg = c.txg;
    ds.nextIno = c.nextIno;
    ds.openSeg = c.openSeg;
    ds.openOff = c.openOff;
    ds.space = new SegmentSpace(c.segCount, sb.segmentSize);
    ds.initTrees(c.inodeRoot, c.direntRoot, c.segRoot, c.snapRoot, c.deadRoot);
    await ds.loadSpace();
    ds.lastCommit = { txg: c.txg, time: c.time, bytes: 0, ms: 0 };
    return ds;
  }

  /** A global tree by its id (file maps are not here: the namespace owns them). */
  treeById(id: bigint): CowTree | undefined {
    return [this.inodes, this.dirents, this.segs, this.snapTree, this.deadTree].find((t) => t.id === id);
  }

  /** Loads and verifies a node of any tree (file maps included). */
  readonly loader: NodeLoader = (p, id) => this.loadNode(p, id);

  private initTrees(inodes: BlockPtr, dirents: BlockPtr, segs: BlockPtr, snaps: BlockPtr, dead: BlockPtr): void {
    const loader = this.loader;
    this.inodes = new CowTree(TREE_INODES, loader, inodes);
    this.dirents = new CowTree(TREE_DIRENTS, loader, dirents);
    this.segs = new CowTree(TREE_SEGS, loader, segs);
    this.snapTree = new CowTree(TREE_SNAPS, loader, snaps);
    this.deadTree = new CowTree(TREE_DEAD, loader, dead);
    this.catalog = new SnapCatalog(this.snapTree);
  }

  /** All commit slots, newest first; the first whose log extents all hash right wins. */
  async newestValidCommit(): Promise<CommitRecord> {
    const ring = await this.layout.readHeader(LIMITS.COMMIT_RING_OFFSET, this.sb.commitSlots * LIMITS.SLOT_SIZE);
    const found: CommitRecord[] = [];
    for (let i = 0; i < this.sb.commitSlots; i++) {
      const c = decodeCommit(ring.subarray(i * LIMITS.SLOT_SIZE, (i + 1) * LIMITS.SLOT_SIZE), this.sb.uuid);
      if (c && Number(c.txg % BigInt(this.sb.commitSlots)) === i) found.push(c);
    }
    found.sort((a, b) => (a.txg < b.txg ? 1 : -1));
    for (const c of found) if (await this.extentsIntact(c)) return c;
    throw new VdfsError('CORRUPT', 'no valid commit found in the commit ring');
  }

  private async extentsIntact(c: CommitRecord): Promise<boolean> {
    for (const e of c.extents) {
      if (e.end <= e.start || e.end > this.sb.segmentSize || e.seg >= c.segCount) return false;
      const bytes = await this.layout.readSeg(e.seg, e.start, e.end - e.start);
      if (streamXxh64().update(bytes).digest() !== e.hash) return false;
    }
    return true;
  }

  /** Live bytes per segment from the segment tree, plus the tree's own nodes. */
  private async loadSpace(): Promise<void> {
    for await (const [k, v] of this.segs.scan()) {
      const s = k.readUInt32BE(0);
      if (s >= this.space.segCount) throw new VdfsError('CORRUPT', `segment tree names segment ${s} past the end`);
      this.space.live[s] = v.readUInt32LE(0);
    }
    const walk = async (n: Node): Promise<void> => {
      await this.segs.load(n);
      if (n.ptr) this.space.metaLive[n.ptr.seg] += n.ptr.len;
      for (const kid of n.kids) await walk(kid);
    };
    if (this.segs.root) await walk(this.segs.root);
    this.space.rebuildFree(this.openSeg);
  }

  /** Reads and verifies a record; pins its segment for the duration so it cannot be reused under the read. */
  async readRecord(ptr: BlockPtr, kind: RecordKind, owner: bigint, key?: bigint): Promise<Buffer> {
    if (ptr.seg >= this.space.segCount || ptr.off + ptr.len > this.sb.segmentSize) {
      throw new VdfsError('CORRUPT', `pointer past the end of the log (segment ${ptr.seg})`);
    }
    this.space.pin(ptr.seg);
    try {
      const bytes = await this.layout.readSeg(ptr.seg, ptr.off, ptr.len);
      return decodeRecord(bytes, { kind, owner, key, birth: ptr.birth, checksum: ptr.checksum }).payload;
    } finally {
      this.space.unpin(ptr.seg);
    }
  }

  private async loadNode(ptr: BlockPtr, treeId: bigint): Promise<NodeImage> {
    return decodeNode(await this.readRecord(ptr, RecordKind.Node, treeId));
  }

  async readInode(ino: bigint): Promise<Buffer | undefined> {
    return this.inodes.get(ino2key(ino));
  }

  /** Commits one transaction group (callers serialize commits; see TxgManager). */
  async commit(f: Frozen): Promise<void> {
    const t0 = performance.now();
    const bytes = await commitTxg(this, f);
    this.commits++;
    this.lastCommit = { txg: this.txg, time: Date.now(), bytes, ms: performance.now() - t0 };
  }

  async close(): Promise<void> { await this.layout.close(); }
}

export async function readSuperblock(layout: Layout): Promise<Superblock> {
  let firstError: unknown = null;
  for (const at of SB_COPIES) {
    try {
      return decodeSuperblock(await layout.readHeader(at, LIMITS.SLOT_SIZE));
    } catch (e) {
      firstError ??= e;
    }
  }
  throw firstError;
}
