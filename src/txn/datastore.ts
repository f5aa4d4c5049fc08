/**
 * The datastore: superblock, commit ring, trees and segment space over a layout; mkfs, open
 * (recovery to the newest valid commit) and the reading of records. Committing a transaction
 * group lives in commit.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Layout } from '../backing/layout.js';
import { RECORD_HEADER, RecordKind } from '../codec/record.js';
import { BlockCodec, Policy, POLICY_OFF } from '../codec/block-codec.js';
import { KeyRing, keyMatches, macHolds } from '../codec/seal.js';
import { defaultWorkers } from '../codec/pool.js';
import { COMMIT_MAC_AT, decodeCommit, CommitRecord } from '../format/commit.js';
import { BlockPtr, NULL_PTR } from '../format/ptr.js';
import { ALL_SUBS_VERSION, decodeSuperblock, encodeSuperblock, FORMAT_VERSION, SB_COPIES, SUBS_VERSION, Superblock, superblockMac } from '../format/superblock.js';
import { V5_MAX_SUBS } from '../format/map-value.js';
import { CowTree, Node, NodeLoader } from '../meta/btree.js';
import { decodeNode, NodeImage } from '../meta/node-codec.js';
import { decodeInode, encodeInode, ino2key, newAttrs, S_IFDIR } from '../meta/inode.js';
import { SegmentSpace } from '../log/space.js';
import { LIMITS } from '../limits.js';
import { ErrorCode, isVdfsError, VdfsError } from '../errors.js';
import { streamXxh64 } from '../codec/checksum.js';
import { commitTxg, Frozen } from './commit.js';
import { directPolicy, DirectPolicy, WriteMode } from '../log/write-mode.js';
import { SnapCatalog } from '../snap/catalog.js';
import { RecordCache, type Run } from './record-cache.js';
import { ReadLoans } from './read-loans.js';
import { OplogChain } from '../oplog/chain.js';

/** A record that fails its own checks this way is read again with the layout's fragment checks on (readStored). */
const RETRY_VERIFIED: ErrorCode[] = ['CHECKSUM', 'CORRUPT', 'AUTH'];

export const TREE_INODES = 1n, TREE_DIRENTS = 2n, TREE_SEGS = 3n, TREE_SNAPS = 4n, TREE_DEAD = 5n;
export const ROOT_INO = 1n;
export const FIRST_USER_INO = 16n;
/** A file's block map has tree id ino | MAP_BIT; the global trees have small ids. */
export const MAP_BIT = 1n << 63n;
export const mapTreeId = (ino: bigint) => ino | MAP_BIT;

export interface OpenOptions {
  /** The master key (from the key file); required when the datastore has a key check. */
  key?: Buffer | null;
  /** Codec worker threads (default: one per core up to CODEC_WORKERS_MAX; 0 encodes inline). */
  workers?: number;
  /** The key is there to set the key of a datastore without one (policy); otherwise such a key is refused. */
  keying?: boolean;
  /** Bytes of records fetched ahead to keep (default READ_AHEAD_CACHE_BYTES; tests set less to see eviction), their runs twice that at most. */
  readAheadBytes?: number;
  /** Which commits write the log directly, where the layout can (default: VDFS_DIRECT's, log/write-mode.ts). */
  direct?: DirectPolicy;
}
export interface MkfsOptions extends OpenOptions { blockSize?: number; segmentSize?: number; policy?: Partial<Policy> }

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
  /** Data records commits wrote: whole blocks, and sub-block records laid over stored blocks (format/map-value.ts). */
  readonly written = { blocks: 0, subBlocks: 0 };
  /** Live file data: logical bytes of present blocks, and the record bytes they take (inode sums). */
  readonly data = { logical: 0, stored: 0 };
  readonly codec: BlockCodec;
  /** Data records a sequential read fetched ahead (fs/read-ahead.ts). */
  readonly readAhead: RecordCache;
  /** Read buffers reused once nothing reaches them (txn/read-loans.ts); null where the layout cannot read into a given buffer. */
  readonly loans: ReadLoans | null;
  /** The oplog's blocks (src/oplog/): fsyncs of small writes append there instead of committing. */
  readonly oplog = new OplogChain(this);
  /** Whether each commit writes its log directly or through the page cache (log/write-mode.ts). */
  readonly writeMode: WriteMode;

  /** `ring`: the key ring mkfs already made from o.key. */
  private constructor(readonly layout: Layout, public sb: Superblock, o: OpenOptions, ring?: KeyRing) {
    if (sb.keyCheck && !o.key) throw new VdfsError('KEY', 'the datastore is encrypted: give its key (--key-file)');
    if (o.key) checkKey(o.key, sb);
    this.codec = new BlockCodec(sb.policy, sb.uuid, ring ?? (o.key ? new KeyRing(o.key, sb.uuid) : null), o.workers ?? defaultWorkers());
    this.loans = layout.readSegInto ? new ReadLoans() : null;
    this.writeMode = new WriteMode(o.direct ?? directPolicy());
    const ahead = o.readAheadBytes ?? LIMITS.READ_AHEAD_CACHE_BYTES;
    const pinned = o.readAheadBytes === undefined ? LIMITS.READ_AHEAD_PINNED_BYTES : 2 * o.readAheadBytes;
    const taken = Math.max(1, Math.floor(Math.min(ahead, LIMITS.READ_AHEAD_TAKEN_BYTES) / sb.blockSize));
    this.readAhead = new RecordCache(Math.max(1, Math.floor(ahead / sb.blockSize)), pinned, this.loans ?? undefined, taken);
  }

  /** Longest slice of a commit's work before requests get a turn (txn/slicer.ts; tests set 0). */
  sliceMs: number = LIMITS.COMMIT_SLICE_MS;
  /** Turns commits have yielded to requests between slices. */
  sliceYields = 0;
  get blockSize(): number { return this.sb.blockSize; }
  /** Sub-blocks in a block (format/map-value.ts). */
  get subsPerBlock(): number { return this.sb.blockSize / LIMITS.SUB_BYTES; }
  /** Whether writes may be stored as sub-block records (format v5, blocks larger than a sub-block). */
  get subBlocks(): boolean { return this.sb.version >= SUBS_VERSION && this.sb.blockSize > LIMITS.SUB_BYTES; }
  /** Sub-blocks one block's map value may hold here (0: none; v5: V5_MAX_SUBS; v6: OVERLAY_MAX_SUBS, at most all of a block's). */
  get maxSubs(): number {
    if (!this.subBlocks) return 0;
    return Math.min(this.subsPerBlock, this.sb.version >= ALL_SUBS_VERSION ? LIMITS.OVERLAY_MAX_SUBS : V5_MAX_SUBS);
  }

  static async mkfs(layout: Layout, opts: MkfsOptions = {}): Promise<Datastore> {
    const policy = { ...POLICY_OFF, ...opts.policy };
    if (policy.encrypt && !opts.key) throw new VdfsError('KEY', 'encryption needs a key (--key-file)');
    const uuid = randomBytes(16);
    const ring = opts.key ? new KeyRing(opts.key, uuid) : undefined;
    const sb: Superblock = {
      version: FORMAT_VERSION,
      blockSize: opts.blockSize ?? LIMITS.BLOCK_SIZE,
      segmentSize: opts.segmentSize ?? LIMITS.SEGMENT_SIZE,
      commitSlots: LIMITS.COMMIT_SLOTS,
      uuid,
      created: Date.now(),
      generation: 1n,
      policy,
      keyCheck: ring ? ring.check : null,
      keyedTxg: 0n,
    };
    const sbBytes = encodeSuperblock(sb, ring?.mac);
    decodeSuperblock(sbBytes); // validates the options
    // Clear the commit ring so no older datastore's commits can be found, then the superblocks.
    await layout.writeHeader(LIMITS.COMMIT_RING_OFFSET, Buffer.alloc(sb.commitSlots * LIMITS.SLOT_SIZE));
    for (const at of SB_COPIES) await layout.writeHeader(at, sbBytes);
    const ds = new Datastore(layout, sb, opts, ring);
    ds.space = new SegmentSpace(1, sb.segmentSize);
    ds.initTrees(NULL_PTR, NULL_PTR, NULL_PTR, NULL_PTR, NULL_PTR);
    const root = newAttrs(S_IFDIR | 0o755, 0, 0);
    root.nlink = 2;
    await ds.commit({ files: [], rawInodes: [[ROOT_INO, encodeInode(root)]], direntRoot: null, direntFreed: [], snapOps: [] });
    return ds;
  }

  static async open(layout: Layout, opts: OpenOptions = {}): Promise<Datastore> {
    const sb = await readSuperblock(layout, opts.key ?? undefined);
    if (opts.key && !sb.keyCheck && !opts.keying) {
      // never encrypted, or its superblock was replaced by an unkeyed one
      throw new VdfsError('KEY', 'this datastore has no key (it is not encrypted); to encrypt it: vdfs policy WHERE --encrypt --key-file FILE');
    }
    const ds = new Datastore(layout, sb, opts);
    const c = await ds.newestValidCommit();
    if (sb.keyCheck && c.sbGen > sb.generation) {
      throw new VdfsError('BAD_SUPERBLOCK', `the superblock (generation ${sb.generation}) is older than the newest commit (written under ${c.sbGen}): an older copy was put back`);
    }
    ds.txg = c.txg;
    ds.nextIno = c.nextIno;
    ds.openSeg = c.openSeg;
    ds.openOff = c.openOff;
    ds.space = new SegmentSpace(c.segCount, sb.segmentSize);
    ds.initTrees(c.inodeRoot, c.direntRoot, c.segRoot, c.snapRoot, c.deadRoot);
    await ds.loadSpace();
    await ds.oplog.load(c.oplog);
    for await (const [, v] of ds.inodes.scan()) {
      const a = decodeInode(v);
      ds.data.logical += a.logical; ds.data.stored += a.stored;
    }
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
      const slot = ring.subarray(i * LIMITS.SLOT_SIZE, (i + 1) * LIMITS.SLOT_SIZE);
      const c = decodeCommit(slot, this.sb.uuid);
      if (c && Number(c.txg % BigInt(this.sb.commitSlots)) === i && this.authentic(c.txg, slot)) found.push(c);
    }
    found.sort((a, b) => (a.txg < b.txg ? 1 : -1));
    for (const c of found) if (await this.extentsIntact(c)) return c;
    throw new VdfsError('CORRUPT', 'no valid commit found in the commit ring');
  }

  /** With a key set, a commit newer than the key must carry its MAC (an unsigned one is not ours). */
  private authentic(txg: bigint, slot: Buffer): boolean {
    if (!this.sb.keyCheck || txg <= this.sb.keyedTxg) return true;
    return this.codec.ring!.macHolds(slot.subarray(0, COMMIT_MAC_AT), slot.subarray(COMMIT_MAC_AT));
  }

  /** Signs commit records and superblocks once the datastore has a key. */
  get signer(): ((bytes: Buffer) => Buffer) | undefined {
    return this.sb.keyCheck ? this.codec.ring!.mac : undefined;
  }

  private async extentsIntact(c: CommitRecord): Promise<boolean> {
    for (const e of c.extents) {
      if (e.end <= e.start || e.end > this.sb.segmentSize || e.seg >= c.segCount) return false;
      let bytes: Buffer;
      try {
        bytes = await this.layout.readSeg(e.seg, e.start, e.end - e.start);
      } catch (err) {
        if (isVdfsError(err, 'CHECKSUM')) return false; // a spread layout's stripes torn by the crash
        throw err; // targets out: never fall back to an older commit for that
      }
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

  /** Reads and verifies a record (or takes it from what a sequential read fetched ahead). */
  async readRecord(ptr: BlockPtr, kind: RecordKind, owner: bigint, key?: bigint): Promise<Buffer> {
    if (kind === RecordKind.Data && key !== undefined) {
      const ahead = await this.readAhead.take(RecordCache.key(ptr, owner, key));
      if (ahead) return ahead;
    }
    return this.readStored(ptr, kind, owner, key);
  }

  /**
   * Starts reading data records for a reader that will want them soon: `blocks` of file `owner`,
   * in block order. Records that lie back to back in one segment are read with one read of the
   * layout (up to READ_AHEAD_RUN_BYTES), then each is verified and decoded on its own.
   */
  prefetch(owner: bigint, blocks: { ptr: BlockPtr; key: bigint }[]): void {
    const todo = blocks.filter((b) => !this.readAhead.has(RecordCache.key(b.ptr, owner, b.key)));
    for (let i = 0; i < todo.length;) {
      let j = i + 1;
      const first = todo[i].ptr;
      // The bound counts payloads: a run of READ_AHEAD_RUN_BYTES of blocks is one read, headers and all.
      while (j < todo.length && todo[j].ptr.seg === first.seg && todo[j].ptr.off === todo[j - 1].ptr.off + todo[j - 1].ptr.len
        && todo[j].ptr.off + todo[j].ptr.len - first.off - (j - i + 1) * RECORD_HEADER <= LIMITS.READ_AHEAD_RUN_BYTES) j++;
      const run = todo.slice(i, j);
      const last = run[run.length - 1].ptr;
      const span = last.off + last.len - first.off;
      const loan = this.loans?.open(span);
      const whole = this.readSpan(first.seg, first.off, span, false, loan?.buf.subarray(0, span));
      whole.catch(() => { /* each record's fetch fails with it; a demand read then reads for itself */ });
      if (loan) void whole.then(() => this.loans!.release(loan), () => this.loans!.release(loan)); // the read is over
      const held: Run = { bytes: span, held: 0, loan };
      for (const b of run) {
        const p = b.ptr;
        this.readAhead.fetch(RecordCache.key(p, owner, b.key), async () => {
          if (loan) this.loans!.hold(loan); // until decoded (a record dropped meanwhile still reads it)
          try {
            const bytes = (await whole).subarray(p.off - first.off, p.off - first.off + p.len);
            return this.codec.decode(bytes, { kind: RecordKind.Data, owner, key: b.key, birth: p.birth, checksum: p.checksum }, !!p.sealed);
          } finally {
            if (loan) this.loans!.release(loan);
          }
        }, held);
      }
      i = j;
    }
  }

  /**
   * Reads len bytes at off of segment seg, pinned for the duration so it cannot be reused under
   * the read; `verify: false` for records (which carry their own checksums: Layout.readSeg);
   * `into` (len bytes): the buffer to read into, which is returned.
   */
  private async readSpan(seg: number, off: number, len: number, verify = true, into?: Buffer): Promise<Buffer> {
    if (seg >= this.space.segCount || off + len > this.sb.segmentSize) {
      throw new VdfsError('CORRUPT', `pointer past the end of the log (segment ${seg})`);
    }
    this.space.pin(seg);
    try {
      if (!into) return await this.layout.readSeg(seg, off, len, verify);
      await this.layout.readSegInto!(seg, off, into, verify);
      return into;
    } finally {
      this.space.unpin(seg);
    }
  }

  /** A record read with the layout's fragment checks off, and again with them on (rebuilding bad fragments) when it fails its own. */
  private async readStored(ptr: BlockPtr, kind: RecordKind, owner: bigint, key?: bigint): Promise<Buffer> {
    const expect = { kind, owner, key, birth: ptr.birth, checksum: ptr.checksum };
    try {
      if (kind === RecordKind.Data && this.loans) return await this.readLoaned(ptr, expect);
      return this.codec.decode(await this.readSpan(ptr.seg, ptr.off, ptr.len, false), expect, !!ptr.sealed);
    } catch (e) {
      if (!RETRY_VERIFIED.some((c) => isVdfsError(e, c))) throw e;
      return this.codec.decode(await this.readSpan(ptr.seg, ptr.off, ptr.len, true), expect, !!ptr.sealed);
    }
  }

  /** A data record read into a loaned buffer, handed out as a slice of it (or as its decoded copy, the buffer then going back). */
  private async readLoaned(ptr: BlockPtr, expect: Parameters<BlockCodec['decode']>[1]): Promise<Buffer> {
    const loans = this.loans!, loan = loans.open(ptr.len);
    try {
      const rec = this.codec.decode(await this.readSpan(ptr.seg, ptr.off, ptr.len, false, loan.buf.subarray(0, ptr.len)), expect, !!ptr.sealed);
      loans.handOut(rec);
      return rec;
    } finally {
      loans.release(loan);
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

  /**
   * Changes the codec policy for records written from now on (old ones stay readable). Turning
   * encryption on needs a key: the one held, or `key`, which becomes the datastore's key when it
   * has none yet (and must match its key check otherwise).
   */
  async setPolicy(p: Policy, key?: Buffer): Promise<void> {
    if (key) checkKey(key, this.sb);
    // Before a key is set, a key given here is the one that will be set (not one merely held).
    const ring = key && !this.sb.keyCheck ? new KeyRing(key, this.sb.uuid) : this.codec.ring;
    if (p.encrypt && !ring) throw new VdfsError('KEY', 'encryption needs a key: give --key-file (key-file=PATH)');
    const keying = !this.sb.keyCheck && p.encrypt;
    const sb: Superblock = {
      ...this.sb, generation: this.sb.generation + 1n, policy: { ...p },
      keyCheck: keying ? ring!.check : this.sb.keyCheck, keyedTxg: keying ? this.txg : this.sb.keyedTxg,
    };
    const bytes = encodeSuperblock(sb, sb.keyCheck ? ring!.mac : undefined);
    decodeSuperblock(bytes); // validates the policy
    await this.layout.writeHeader(SB_COPIES[0], bytes);
    await this.layout.sync();
    // Copy 0 is durable and newer: from here the datastore opens with the new superblock.
    this.sb = sb;
    this.codec.ring = ring;
    this.codec.policy = sb.policy;
    await this.layout.writeHeader(SB_COPIES[1], bytes);
    await this.layout.sync();
  }

  async close(): Promise<void> { await this.codec.close(); await this.layout.close(); }
}

/** A key that is not the datastore's (when it has one) is refused. */
function checkKey(key: Buffer, sb: Superblock): void {
  if (sb.keyCheck && !keyMatches(key, sb.uuid, sb.keyCheck)) throw new VdfsError('KEY', 'wrong key: it does not match the datastore\'s key check');
}

/**
 * The valid superblock copy with the highest generation (a policy change torn between the
 * copies leaves one of them). Given the right key, a keyed copy whose MAC fails is not valid.
 */
export async function readSuperblock(layout: Layout, key?: Buffer): Promise<Superblock> {
  let firstError: unknown = null, best: Superblock | null = null;
  for (const at of SB_COPIES) {
    try {
      const bytes = await layout.readHeader(at, LIMITS.SLOT_SIZE);
      const sb = decodeSuperblock(bytes);
      if (key && sb.keyCheck && keyMatches(key, sb.uuid, sb.keyCheck)) {
        const { signed, mac } = superblockMac(bytes);
        if (!macHolds(key, sb.uuid, signed, mac)) throw new VdfsError('BAD_SUPERBLOCK', 'the superblock fails authentication with this key (it was altered)');
      }
      if (!best || sb.generation > best.generation) best = sb;
    } catch (e) {
      firstError ??= e;
    }
  }
  if (best) return best;
  throw firstError;
}
