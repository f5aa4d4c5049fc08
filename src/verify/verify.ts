/**
 * Snapshot metadata verification. Each file's snapshots form a tree (parent = the snapshot a
 * snapshot's file descended from; the live file hangs from its own parent). The tree is walked
 * parent first; each version's block map is checked node by node, and every node checked is
 * recorded in that version's map of verified nodes. A child consults its ancestors' maps first:
 * a node found there is the same subtree (same location and checksum), verified already, and is
 * skipped with everything under it — only its key range is checked against the child's fences.
 * So a node shared by many snapshots is checked once.
 *
 * Checks per node: record checksum and identity (via the loader), level, keys strictly
 * increasing and inside the fences the parent's separators give, child and block pointers
 * inside the log and into live segments, and no birth txg newer than the version's txg.
 */
import { isVdfsError } from '../errors.js';
import { BlockPtr, ExtentState } from '../format/ptr.js';
import { decodeMapValue, MapValue } from '../format/map-value.js';
import type { NodeImage } from '../meta/node-codec.js';
import { decodeInode, ino2key } from '../meta/inode.js';
import { mapTreeId, type Datastore } from '../txn/datastore.js';

export interface Alarm { file: string; snapshot: string; node: string; reason: string }

export interface VerifyReport {
  files: number; versions: number; nodesChecked: number; nodesShared: number; blockPointers: number;
  alarms: Alarm[]; ms: number;
}

interface Version { name: string; id: number; parent: number; txg: bigint; root: BlockPtr }
interface Range { min: Buffer | null; max: Buffer | null }

/** A version's verified nodes, consulted after its own through its ancestors'. */
class Verified {
  own = new Map<string, Range>();
  constructor(readonly up: Verified | null) {}
  get(id: string): Range | undefined {
    for (let m: Verified | null = this; m; m = m.up) { const r = m.own.get(id); if (r) return r; }
    return undefined;
  }
}

/** The whole pointer: a child pointer that differs in anything (birth, length) is not the verified node. */
const ptrId = (p: BlockPtr) => `${p.state}:${p.seg}:${p.off}:${p.len}:${p.checksum}:${p.birth}:${p.sealed ? 1 : 0}`;
const lt = (a: Buffer, b: Buffer) => Buffer.compare(a, b) < 0;

export class Verifier {
  readonly report: VerifyReport = { files: 0, versions: 0, nodesChecked: 0, nodesShared: 0, blockPointers: 0, alarms: [], ms: 0 };
  constructor(private ds: Datastore) {}

  /** Verifies one file: its live map and every snapshot, parent first. */
  async file(ino: bigint, path: string): Promise<void> {
    const raw = await this.ds.inodes.get(ino2key(ino));
    if (!raw) return;
    const inode = decodeInode(raw);
    const { header, snaps } = await this.ds.catalog.of(ino);
    const versions: Version[] = snaps.map((s) => ({ name: s.name, id: s.id, parent: s.parent, txg: s.txg, root: s.mapRoot }));
    versions.push({ name: '(live)', id: -1, parent: header.liveParent, txg: this.ds.txg, root: inode.mapRoot });
    const ids = new Set(versions.map((v) => v.id));
    const kids = new Map<number, Version[]>();
    for (const v of versions) {
      const p = ids.has(v.parent) ? v.parent : 0;
      const list = kids.get(p);
      if (list) list.push(v); else kids.set(p, [v]);
    }
    this.report.files++;
    const walk = async (v: Version, up: Verified | null): Promise<void> => {
      const mine = new Verified(up);
      await this.version(ino, path, v, mine);
      for (const k of kids.get(v.id) ?? []) await walk(k, mine);
    };
    const before = this.report.versions;
    for (const v of kids.get(0) ?? []) await walk(v, null);
    if (this.report.versions - before !== versions.length) {
      this.report.alarms.push({ file: path, snapshot: '(tree)', node: '-', reason: `${versions.length - (this.report.versions - before)} versions unreachable from the snapshot tree's roots (a parent cycle)` });
    }
  }

  /** Verifies one block map on its own (no snapshot hierarchy): the baseline a hierarchy is compared with. */
  async single(ino: bigint, path: string, name: string, txg: bigint, root: BlockPtr): Promise<void> {
    await this.version(ino, path, { name, id: -1, parent: 0, txg, root }, new Verified(null));
  }

  private async version(ino: bigint, path: string, v: Version, seen: Verified): Promise<void> {
    this.report.versions++;
    if (v.root.state !== ExtentState.Present) return;
    const alarm = (node: string, reason: string) => this.report.alarms.push({ file: path, snapshot: v.name, node, reason });
    await this.node(ino, v, seen, v.root, null, null, null, 'root pointer', alarm);
  }

  /** Checks a pointer's target range; returns a reason when it is not a live place in the log. */
  private placeProblem(p: BlockPtr, what: string): string | null {
    const sp = this.ds.space;
    if (p.seg >= sp.segCount || p.off + p.len > this.ds.sb.segmentSize || p.len === 0) return `${what} pointer out of range (segment ${p.seg}, offset ${p.off}, length ${p.len})`;
    if (sp.isEmpty(p.seg)) return `${what} pointer into free segment ${p.seg}`;
    return null;
  }

  /** Verifies the subtree at p whose keys must lie in [lo, hi); returns its actual key range. */
  private async node(ino: bigint, v: Version, seen: Verified, p: BlockPtr, level: number | null,
    lo: Buffer | null, hi: Buffer | null, holder: string, alarm: (node: string, reason: string) => void): Promise<Range> {
    const id = ptrId(p), where = `${p.seg}:${p.off}`;
    const inFences = (r: Range) => (!lo || !r.min || !lt(r.min, lo)) && (!hi || !r.max || lt(r.max, hi));
    const known = seen.get(id);
    if (known) {
      this.report.nodesShared++;
      if (!inFences(known)) alarm(where, 'shared node outside the key range its parent gives it');
      return known;
    }
    const place = this.placeProblem(p, 'child');
    if (place) { alarm(holder, place); return { min: null, max: null }; } // the node holding the bad pointer is the damaged one
    if (p.birth > v.txg) alarm(where, `node born in txg ${p.birth}, after its snapshot (txg ${v.txg})`);
    let img: NodeImage;
    try {
      img = await this.ds.loader(p, mapTreeId(ino));
    } catch (e) {
      alarm(where, isVdfsError(e) ? e.message : String(e));
      return { min: null, max: null };
    }
    this.report.nodesChecked++;
    if (level !== null && img.level !== level) alarm(where, `node at level ${img.level} where level ${level} belongs`);
    for (let i = 1; i < img.keys.length; i++) if (!lt(img.keys[i - 1], img.keys[i])) { alarm(where, `keys out of order at entry ${i}`); break; }
    const r: Range = { min: img.keys[0] ?? null, max: img.keys[img.keys.length - 1] ?? null };
    if (img.leaf) this.leaf(img, v, where, alarm);
    else {
      for (let i = 0; i < img.kids.length; i++) {
        const kidLo = i === 0 ? lo : img.keys[i], kidHi = i + 1 < img.kids.length ? img.keys[i + 1] : hi;
        const kr = await this.node(ino, v, seen, img.kids[i], img.level - 1, kidLo, kidHi, where, alarm);
        if (i === 0) r.min = kr.min;
        if (i === img.kids.length - 1) r.max = kr.max;
      }
    }
    if (!inFences(r)) alarm(where, 'keys outside the range its parent gives it');
    seen.own.set(id, r);
    return r;
  }

  private leaf(img: NodeImage, v: Version, where: string, alarm: (node: string, reason: string) => void): void {
    for (let i = 0; i < img.vals.length; i++) {
      let mv: MapValue;
      try { mv = decodeMapValue(img.vals[i], this.ds.subsPerBlock); } catch (e) { alarm(where, `entry ${i}: ${(e as Error).message}`); continue; }
      if (mv.subs.length > this.ds.maxSubs) alarm(where, `entry ${i}: ${mv.subs.length} sub-blocks, more than this datastore's ${this.ds.maxSubs}`);
      for (const [what, b] of [['block', mv.base], ...mv.subs.map((s) => [`sub-block ${s.index}`, s.ptr])] as [string, BlockPtr][]) {
        this.report.blockPointers++;
        if (b.birth > v.txg) alarm(where, `entry ${i}: ${what} born in txg ${b.birth}, after its snapshot (txg ${v.txg})`);
        if (b.state !== ExtentState.Present) continue;
        const place = this.placeProblem(b, `entry ${i}: ${what}`);
        if (place) alarm(where, place);
      }
    }
  }
}
