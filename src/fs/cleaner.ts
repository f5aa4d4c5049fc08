/**
 * The segment cleaner. When a transaction group is frozen and free segments run short of what
 * its commit will write (the pool counts the segments the file may grow by while it stays
 * CLEAN_UTILIZATION live), it reads the emptiest sealed segments (live bytes below
 * CLEAN_MAX_LIVE of a segment) and relocates their live records into that commit: a data block
 * joins its file's frozen set with the same content (so it is written
 * elsewhere and the old copy is freed), a tree node is "touched" (copied on write along its
 * path). A segment is taken only when every live byte in it can move this way — records a
 * snapshot still holds cannot (moving them would need the snapshot's map rewritten), so such a
 * segment is left until a snapshot deletion or an overwrite changes its count. After the
 * commit the emptied segments are free like any other. A moved block is decoded (opened and
 * inflated) and written again under the current policy with a new birth — sealed again if it
 * was sealed, even after encryption was turned off. A sub-block record (format/map-value.ts)
 * moves as a sub-block record. A block's base record with sub-blocks laid over it moves whole:
 * the block is read with them and rewritten as one record, which folds them in (their records,
 * wherever they are, are freed with the base). So does a block that is all sub-blocks (its base
 * let go, format v6) when one of them moves: eight 4 KiB records become one, and its map value
 * 32 bytes instead of 288.
 */
import { CODEC_SEALED, RecordKind } from '../codec/record.js';
import { decodeMapValue, keyParts, presentPtrs } from '../format/map-value.js';
import { isVdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { firstKeyOf } from '../meta/node-codec.js';
import type { CowTree } from '../meta/btree.js';
import { scanSegment, FoundRecord } from '../log/segment-scan.js';
import { Frozen, FrozenFile, frozenLogBytes, keyOfBlock, Touch } from '../txn/commit.js';
import { MAP_BIT } from '../txn/datastore.js';
import { Slicer } from '../txn/slicer.js';
import type { Filesystem } from './filesystem.js';
import { valueContent } from './data.js';
import { cover, fillGaps, newPartial } from './partial.js';
import { blockLogBytes } from './log-bytes.js';
import { FoldReads } from './fold-reads.js';

export class Cleaner {
  readonly stats = { runs: 0, segmentsRead: 0, segmentsCleaned: 0, recordsMoved: 0, bytesMoved: 0, heldBySnapshots: 0, blocksFolded: 0, subBlocksMoved: 0 };
  /** Segments found not movable, with their live bytes then: read again only once that changes. */
  private stuck = new Map<number, number>();
  /** Whether the last run saw segments it could empty (then the free pool paces writers). */
  private cleanable = false;
  /** Segments the file may grow by, as of the last run (roomToGrow). */
  private growRoom = 0;
  constructor(private fs: Filesystem) {}

  /** Runs on a frozen transaction group before it is committed; what it moves joins that commit. */
  async run(f: Frozen): Promise<void> {
    const ds = this.fs.ds, sp = ds.space, segSize = ds.sb.segmentSize;
    const frozenBytes = frozenLogBytes(f);
    // This commit writes its frozen data plus what moves (cons); segments the cleaner empties
    // are free only once the commit is durable. So aim for the free pool left after this
    // commit to cover the next one of the same size, plus a reserve — and move no more than
    // half the pool (the other half is for the data; see logLimit).
    const segs = (bytes: number) => Math.ceil(bytes / segSize);
    const cons = (moved: number) => segs(frozenBytes + moved);
    // Unpaced, the next group may grow to what memory allows (DIRTY_LIMIT_BYTES of whole blocks).
    const unpaced = segs(Math.ceil(LIMITS.DIRTY_LIMIT_BYTES / ds.blockSize) * blockLogBytes(ds, 0));
    const leaves = (pool: number, next: number) => pool - cons(0) >= next + LIMITS.CLEAN_RESERVE_SEGMENTS;
    // The room to grow is weighed only when the free segments alone fall short (it takes a statfs).
    this.growRoom = leaves(sp.freeSegments(), Math.max(cons(0), unpaced)) ? 0 : await this.roomToGrow();
    const pool = this.pool();
    const ahead = (freed: number, moved: number) =>
      Math.max(0, pool - cons(moved)) + freed >= cons(moved) + LIMITS.CLEAN_RESERVE_SEGMENTS;
    // Writers stay paced while the pool left after this commit could not take an unpaced one:
    // were pacing to stop whenever one small commit found room, the next would grow past it.
    const paced = !leaves(pool, unpaced);
    // Enough free segments (the common case): no segment is looked at, and writers are not paced.
    this.cleanable = false;
    if (!paced && ahead(0, 0)) return;
    const limit = LIMITS.CLEAN_MAX_LIVE * segSize;
    const liveOf = (s: number) => sp.live[s] + sp.metaLive[s];
    const candidates: number[] = [];
    for (let s = 0; s < sp.segCount; s++) {
      const live = liveOf(s);
      if (s === ds.openSeg || live === 0 || live >= limit || sp.isPinned(s) || this.stuck.get(s) === live) continue;
      candidates.push(s);
    }
    this.cleanable = candidates.length > 0;
    if (!this.cleanable || ahead(0, 0)) return;
    const moveCap = Math.min(LIMITS.CLEAN_MAX_BYTES_PER_TXG, Math.max(segSize, this.halfPool()));
    candidates.sort((a, b) => liveOf(a) - liveOf(b));
    this.stats.runs++;
    const files = new Map(f.files.map((x) => [x.ino, x]));
    const slice = new Slicer(ds.sliceMs); // FUSE requests get turns while segments are planned (decoding them is CPU work)
    let freed = 0, moved = 0;
    for (const s of candidates.slice(0, LIMITS.CLEAN_MAX_SEGMENTS_PER_TXG)) {
      // What moves is written again in this commit: a segment that is 60% live gains 0.4.
      if (ahead(freed, moved) || moved >= moveCap) break;
      const live = liveOf(s);
      const plan = await this.plan(s, files, slice);
      this.stats.segmentsRead++;
      if (!plan || plan.bytes !== live) { this.stuck.set(s, live); continue; }
      await this.apply(f, files, plan);
      freed++; moved += plan.bytes;
      this.stats.segmentsCleaned++;
      this.stats.recordsMoved += plan.data.length + plan.touches.length;
      this.stats.bytesMoved += plan.bytes;
    }
  }

  /**
   * Segments the file may still grow by without cleaning: while its live bytes stay at least
   * CLEAN_UTILIZATION of it (more room lets garbage gather first, so the segments cleaned later
   * hold less that must move), within what the layout can still take (its free space, less the
   * reserve, and a spread layout's table).
   */
  private async roomToGrow(): Promise<number> {
    const { ds } = this.fs, sp = ds.space, segSize = ds.sb.segmentSize;
    await this.fs.refreshCapacity();
    const byUse = Math.floor(sp.usedBytes() / LIMITS.CLEAN_UTILIZATION / segSize) - sp.segCount;
    const bySpace = Math.floor((this.fs.capacity - LIMITS.HEADER_REGION) / segSize) - sp.segCount - LIMITS.CLEAN_RESERVE_SEGMENTS;
    const byTable = (ds.layout.maxSegments ?? Infinity) - sp.segCount - LIMITS.CLEAN_RESERVE_SEGMENTS;
    return Math.max(0, Math.min(byUse, bySpace, byTable));
  }

  /** Segments commits may take without cleaning: the free ones and the room to grow (as of the last run). */
  private pool(): number { return this.fs.ds.space.freeSegments() + this.growRoom; }

  /** Bytes of half the pool beyond the reserve. */
  private halfPool(): number {
    return Math.max(0, Math.floor((this.pool() - LIMITS.CLEAN_RESERVE_SEGMENTS) / 2)) * this.fs.ds.sb.segmentSize;
  }

  /**
   * Log bytes the open txg may reach (fs/log-bytes.ts) before writers wait. While there are
   * segments to empty, commits are kept to half the free pool (the cleaner moves into the other
   * half), so the datastore file does not grow while its space can be reclaimed; otherwise no
   * bound beyond memory's (DIRTY_LIMIT_BYTES).
   */
  logLimit(): number {
    if (!this.cleanable) return Infinity;
    return Math.min(LIMITS.DIRTY_LIMIT_BYTES, Math.max(LIMITS.CLEAN_MIN_LOG_BYTES, this.halfPool()));
  }

  /** Forget stuck segments (a snapshot deletion may have made them movable). */
  reconsider(): void { this.stuck.clear(); }

  /** What moving segment s takes, and how many of its live bytes that accounts for (null: something a snapshot holds). */
  private async plan(s: number, files: Map<bigint, FrozenFile>, slice: Slicer): Promise<Plan | null> {
    const ds = this.fs.ds;
    const bytes = await ds.layout.readSeg(s, 0, ds.sb.segmentSize);
    const out: Plan = { bytes: 0, data: [], touches: [] };
    const folding = new Set<string>();
    const folds = new FoldReads();
    for (const r of scanSegment(bytes)) {
      await slice.pause();
      // Nodes are opened to find their path (a sealed node needs the key); data only when it moves.
      const key = r.kind === RecordKind.Node ? firstKey(ds.codec.open(r)) : null;
      const verdict = key ? await this.nodeVerdict(s, r, key) : await this.dataVerdict(s, r, files);
      const sealed = (r.codec & CODEC_SEALED) !== 0;
      if (verdict === 'held') { this.stats.heldBySnapshots++; await folds.settled(); return null; }
      if (verdict === 'dead') continue;
      out.bytes += r.len;
      if (verdict === 'touch') out.touches.push({ tree: r.owner, key: key!, level: Number(r.key), seg: s, off: r.off });
      else if (verdict === 'fold') {
        const { lbn } = keyParts(r.key);
        if (folding.has(`${r.owner}:${lbn}`)) continue; // another of its records here: read whole once
        folding.add(`${r.owner}:${lbn}`);
        const item: PlanData = { ino: r.owner, lbn, sub: null, payload: EMPTY, sealed, fold: true };
        out.data.push(item);
        await folds.start(() => this.whole(r.owner, lbn), (whole) => { item.payload = whole.data; item.sealed ||= whole.sealed; });
      } else if (verdict === 'move') out.data.push({ ino: r.owner, ...keyParts(r.key), payload: ds.codec.open(r), sealed, fold: false }); // a base alone, or a sub-block
      // 'dies': counted, not moved (this commit drops it)
    }
    return (await folds.settled()) ? out : null;
  }

  /** A data record: dead, held by a snapshot, dying in this commit anyway, or to move (as it is, or its block folded whole). */
  private async dataVerdict(s: number, r: FoundRecord, files: Map<bigint, FrozenFile>): Promise<'dead' | 'held' | 'dies' | 'move' | 'fold'> {
    // 'move': a whole block's record without sub-blocks, or a sub-block record; 'fold': a base with
    // sub-blocks, or a sub-block of a block that is all sub-blocks (one record instead of eight).
    const v = await this.fs.vnode(r.owner).catch(() => null);
    if (!v) return 'dead';
    const { lbn, sub } = keyParts(r.key);
    const val = await v.map.get(keyOfBlock(lbn), v.map.root);
    if (!val) return 'dead';
    const mv = decodeMapValue(val, this.fs.ds.subsPerBlock);
    const p = sub === null ? mv.base : mv.subs.find((x) => x.index === sub)?.ptr;
    if (!p || p.seg !== s || p.off !== r.off || p.checksum !== r.checksum) return 'dead';
    // The pointer says whether the record is sealed (an unsealed forgery must not be moved, and so laundered).
    if (!!p.sealed !== ((r.codec & CODEC_SEALED) !== 0)) {
      this.fs.log.error({ segment: s, offset: r.off, ino: Number(r.owner), lbn }, 'record not sealed as its pointer says; its segment is left alone');
      return 'held';
    }
    if (r.birth <= (await this.fs.ds.catalog.newestTxg(v.ino))) return 'held';
    const ff = files.get(v.ino);
    if (ff && (ff.deleted || (ff.trimFrom !== null && lbn >= ff.trimFrom))) return 'dies';
    // A block rewritten whole in this commit drops all its records; one written as sub-blocks, the ones it writes.
    const written = ff?.subs.get(lbn);
    if (ff?.blocks.has(lbn) && (!written || (sub !== null && written.includes(sub)))) return 'dies';
    // A base whose every sub-block is there once this commit's are laid over it: the commit lets it go.
    if (sub === null && written && this.fs.ds.maxSubs >= this.fs.ds.subsPerBlock
      && new Set([...mv.subs.map((x) => x.index), ...written]).size === this.fs.ds.subsPerBlock) return 'dies';
    if (sub === null) return mv.subs.length ? 'fold' : 'move';
    return mv.subs.length === this.fs.ds.subsPerBlock && !written ? 'fold' : 'move';
  }

  private async nodeVerdict(s: number, r: FoundRecord, key: Buffer): Promise<'dead' | 'held' | 'touch'> {
    const tree = await this.treeOf(r.owner);
    if (!tree) return 'dead';
    if (!(await tree.holds(key, Number(r.key), { seg: s, off: r.off }))) return 'dead';
    if (r.owner & MAP_BIT && r.birth <= (await this.fs.ds.catalog.newestTxg(r.owner & ~MAP_BIT))) return 'held';
    return 'touch';
  }

  private async treeOf(id: bigint): Promise<CowTree | null> {
    if (id & MAP_BIT) return (await this.fs.vnode(id & ~MAP_BIT).catch(() => null))?.map ?? null;
    return this.fs.ds.treeById(id) ?? null;
  }

  /**
   * Block lbn of file ino as stored, sub-blocks laid over it, and whether any of its records is
   * sealed; 'unreadable' when one of them fails its checks (the segment is left alone then).
   */
  private async whole(ino: bigint, lbn: number): Promise<{ data: Buffer; sealed: boolean } | 'unreadable'> {
    const ds = this.fs.ds, v = await this.fs.vnode(ino);
    const val = await v.map.get(keyOfBlock(lbn), v.map.root);
    const mv = val && decodeMapValue(val, ds.subsPerBlock);
    const sealed = !!mv && presentPtrs(mv).some((p) => p.sealed);
    try {
      const b = mv && await valueContent(ds, ino, lbn, mv);
      return { data: b ? Buffer.from(b) : Buffer.alloc(ds.blockSize), sealed };
    } catch (e) {
      if (!isVdfsError(e)) throw e;
      this.fs.log.warn({ ino: Number(ino), lbn, err: e.message }, 'a block the cleaner would move is unreadable; its segment is left alone');
      return 'unreadable';
    }
  }

  /** Live blocks join their file's frozen set (content unchanged); nodes are touched in the commit. */
  private async apply(f: Frozen, files: Map<bigint, FrozenFile>, plan: Plan): Promise<void> {
    const fileOf = async (ino: bigint) => {
      let ff = files.get(ino);
      if (!ff) { ff = (await this.fs.lateFreeze(f, ino)) ?? undefined; if (ff) files.set(ino, ff); }
      return ff;
    };
    const S = LIMITS.SUB_BYTES;
    for (const { ino, lbn, sub, payload, sealed, fold } of plan.data) {
      const ff = await fileOf(ino);
      if (!ff || ff.deleted) continue;
      const block = ff.blocks.get(lbn), written = ff.subs.get(lbn);
      if (block && !written) continue; // rewritten whole in this commit (or moved already)
      if (sub !== null) {
        if (written?.includes(sub)) continue;
        ff.moveSub(lbn, sub, payload);
        this.stats.subBlocksMoved++;
      } else if (block && written) {
        // Written as sub-blocks in this commit: the rest comes from the block as stored, and it is written whole.
        const p = newPartial();
        for (const i of written) cover(p, i * S, (i + 1) * S);
        fillGaps(block, p, payload);
        ff.subs.delete(lbn);
      } else ff.blocks.set(lbn, Buffer.from(payload));
      if (fold) this.stats.blocksFolded++;
      if (sealed) ff.seal.add(lbn); // written sealed again even if encryption is off now
    }
    for (const t of plan.touches) {
      if (t.tree === this.fs.ds.dirents.id) this.fs.deferDirentTouches([t]);
      else if (!(t.tree & MAP_BIT) || (await fileOf(t.tree & ~MAP_BIT))) {
        const list = f.touches!.get(t.tree);
        if (list) list.push(t); else f.touches!.set(t.tree, [t]);
      }
    }
  }
}

/** Data to move: a whole block's content (sub null: as stored, sub-blocks laid over it), or one sub-block's. */
interface PlanData { ino: bigint; lbn: number; sub: number | null; payload: Buffer; sealed: boolean; fold: boolean }
interface Plan { bytes: number; data: PlanData[]; touches: Touch[] }
const EMPTY = Buffer.alloc(0);

/** A node's first key, from its plain payload (the path to it); an empty node has none and is found by the empty key. */
function firstKey(payload: Buffer): Buffer {
  return firstKeyOf(payload) ?? Buffer.alloc(0);
}
