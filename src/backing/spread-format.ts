/**
 * On-target format of the spread layouts (mirror:N, ec:K+M), version 1. Each target file is:
 *
 * | offset                      | bytes               | what                                                   |
 * |-----------------------------|---------------------|--------------------------------------------------------|
 * | 0, 4096                     | 4096 each           | label, two identical copies                            |
 * | SPREAD_HEADER_BASE (64 KiB) | HEADER_REGION       | the datastore's header region (superblocks, commits), on every target |
 * | tableBase                   | 2 × pages × 4096    | segment table: page p in slots 2p and 2p + 1, written alternately |
 * | chunkBase (1 MiB aligned)   | chunkStored × n     | chunks: one fragment of one segment each               |
 *
 * Label (4096 bytes; xxh64 of bytes 0..4087 at 4088):
 *
 * | off | size | field                                                |
 * |-----|------|------------------------------------------------------|
 * | 0   | 4    | magic 'VDFL'                                         |
 * | 4   | 2    | version (1)                                          |
 * | 6   | 1    | kind: 1 ec, 2 mirror                                 |
 * | 7   | 1    | k (data fragments; 1 for mirror)                     |
 * | 8   | 1    | m (parity fragments; copies − 1 for mirror)          |
 * | 9   | 1    | n (targets)                                          |
 * | 10  | 1    | this target's index                                  |
 * | 12  | 4    | segment size                                         |
 * | 16  | 4    | unit bytes                                           |
 * | 20  | 4    | table capacity (segments)                            |
 * | 24  | 16   | layout id                                            |
 * | 40  | 16   | this target's id (new on every rebuild)              |
 * | 64  | …    | n × (u16 length, UTF-8 path) of every target         |
 *
 * Table page (4096 bytes): u64 seq at 0, xxh64 of the payload seeded with seq at 8, payload at 16.
 * A page is always written to the slot that does not hold its newest valid version, so a torn
 * write leaves the previous one. Page 0 is the meta page, written at every sync: u32 online mask
 * at 16, u32 pages in use at 20, then n × 16-byte target ids at 24 (the ids each target must
 * carry to count). Pages 1.. hold segment entries,
 * `entriesPerPage` each, `entryBytes` = 16 + 8 × maxRefs:
 *
 * | off | size | field                                                 |
 * |-----|------|-------------------------------------------------------|
 * | 0   | 4    | generation (written into every unit's check)          |
 * | 4   | 1    | mode: 0 free, 1 ec (roles 0..k+m−1), 2 replicated (copies of roles 0..k−1) |
 * | 5   | 1    | ref count                                             |
 * | 8   | 4    | stripes written                                       |
 * | 12  | 4    | missing mask (bit i: ref i lacks its fragment)        |
 * | 16+8i | 8  | ref i: u8 target, u8 role, u16 validTo, u32 chunk     |
 *
 * A missing ref still holds its stripes below validTo (it went missing in the middle of the
 * segment); the healer re-creates the rest.
 *
 * A chunk holds one role of one segment: `stripes` units of UNIT_BYTES data each followed by a
 * 16-byte check: xxh64 of the data seeded with xxh64 of (seg u32, stripe u32, role u32, gen u32)
 * at 0, gen u32 at 8, magic 'VDFU' at 12.
 */
import { randomBytes } from 'node:crypto';
import { xxh64 } from '../codec/checksum.js';
import { invariant, LIMITS } from '../limits.js';
import { getU64LE, putU64LE } from '../codec/u64.js';

export const LABEL_MAGIC = 0x4c464456; // 'VDFL'
const UNIT_MAGIC = 0x55464456; // 'VDFU'
export const SPREAD_VERSION = 1;
export const UNIT_CHECK = 16;
const PAGE = LIMITS.SPREAD_PAGE;
const PAGE_HEAD = 16;

export enum SpreadKind { Ec = 1, Mirror = 2 }
export enum Mode { Free = 0, Ec = 1, Replicated = 2 }

/** Marks a ref missing from `stripe` on (what it held below stays good); idempotent. */
export function markMissing(r: Ref, stripe: number): boolean {
  if (r.missing) { if (stripe < r.validTo) r.validTo = stripe; else return false; return true; }
  r.missing = true; r.validTo = stripe;
  return true;
}

/** True when the ref holds the given stripe (whatever its target's state). */
export const holds = (r: Ref, stripe: number): boolean => !r.missing || stripe < r.validTo;

export interface Label {
  kind: SpreadKind; k: number; m: number; n: number; index: number;
  segmentSize: number; unitBytes: number; maxSegments: number;
  layoutId: Buffer; targetId: Buffer; paths: string[];
}

export function encodeLabel(l: Label): Buffer {
  const b = Buffer.alloc(PAGE);
  b.writeUInt32LE(LABEL_MAGIC, 0); b.writeUInt16LE(SPREAD_VERSION, 4);
  b[6] = l.kind; b[7] = l.k; b[8] = l.m; b[9] = l.n; b[10] = l.index;
  b.writeUInt32LE(l.segmentSize, 12); b.writeUInt32LE(l.unitBytes, 16); b.writeUInt32LE(l.maxSegments, 20);
  l.layoutId.copy(b, 24); l.targetId.copy(b, 40);
  let at = 64;
  for (const p of l.paths) {
    const s = Buffer.from(p, 'utf8');
    invariant(at + 2 + s.length <= PAGE - 8, 'target paths fit the label');
    b.writeUInt16LE(s.length, at); s.copy(b, at + 2); at += 2 + s.length;
  }
  putU64LE(b, PAGE - 8, xxh64(b.subarray(0, PAGE - 8)));
  return b;
}

/** The label, or null when the bytes are not a valid one (an empty or foreign target). */
export function decodeLabel(b: Buffer): Label | null {
  if (b.length < PAGE || b.readUInt32LE(0) !== LABEL_MAGIC) return null;
  if (getU64LE(b, PAGE - 8) !== xxh64(b.subarray(0, PAGE - 8))) return null;
  if (b.readUInt16LE(4) !== SPREAD_VERSION) return null;
  const n = b[9];
  const paths: string[] = [];
  let at = 64;
  for (let i = 0; i < n; i++) {
    const len = b.readUInt16LE(at);
    paths.push(b.toString('utf8', at + 2, at + 2 + len)); at += 2 + len;
  }
  return {
    kind: b[6], k: b[7], m: b[8], n, index: b[10], segmentSize: b.readUInt32LE(12), unitBytes: b.readUInt32LE(16),
    maxSegments: b.readUInt32LE(20), layoutId: Buffer.from(b.subarray(24, 40)), targetId: Buffer.from(b.subarray(40, 56)), paths,
  };
}

export const newId = (): Buffer => randomBytes(16);

/** Refs a segment entry needs room for: k + m in EC mode, DEGRADED_COPIES × k when copied. */
export const refsPerEntry = (s: Pick<Label, 'kind' | 'k' | 'm'>): number =>
  Math.max(s.k + s.m, s.kind === SpreadKind.Ec ? LIMITS.DEGRADED_COPIES * s.k : 0);

/** Sizes derived from a label: where each region starts and how big a chunk is. */
export class Geometry {
  readonly stripeData: number;
  readonly stripes: number;
  readonly unitStored: number;
  readonly chunkStored: number;
  readonly maxRefs: number;
  readonly entryBytes: number;
  readonly entriesPerPage: number;
  readonly pages: number;
  readonly tableBase = LIMITS.SPREAD_HEADER_BASE + LIMITS.HEADER_REGION;
  readonly chunkBase: number;
  constructor(readonly l: Pick<Label, 'kind' | 'k' | 'm' | 'n' | 'segmentSize' | 'unitBytes' | 'maxSegments'>) {
    this.stripeData = l.k * l.unitBytes;
    this.stripes = Math.ceil(l.segmentSize / this.stripeData);
    this.unitStored = l.unitBytes + UNIT_CHECK;
    this.chunkStored = this.stripes * this.unitStored;
    this.maxRefs = refsPerEntry(l);
    this.entryBytes = 16 + 8 * this.maxRefs;
    this.entriesPerPage = Math.floor((PAGE - PAGE_HEAD) / this.entryBytes);
    this.pages = 1 + Math.ceil(l.maxSegments / this.entriesPerPage);
    const end = this.tableBase + 2 * this.pages * PAGE;
    this.chunkBase = Math.ceil(end / (1 << 20)) * (1 << 20);
  }
  pageSlotAt(page: number, slot: number): number { return this.tableBase + (2 * page + slot) * PAGE; }
  chunkAt(chunk: number, stripe = 0): number { return this.chunkBase + chunk * this.chunkStored + stripe * this.unitStored; }
}

/** A page's checksum: its payload hashed with the seq as seed (so a page cannot pass under another seq). */
const pageSum = (b: Buffer): bigint => xxh64(b.subarray(PAGE_HEAD), getU64LE(b, 0));

/** A page with its seq and checksum; `payload` is PAGE − 16 bytes. */
export function sealPage(seq: bigint, payload: Buffer): Buffer {
  const b = Buffer.alloc(PAGE);
  putU64LE(b, 0, seq);
  payload.copy(b, PAGE_HEAD);
  putU64LE(b, 8, pageSum(b));
  return b;
}

/** The better of a page's two stored slots: the valid one with the higher seq (null if neither). */
export function bestPage(slots: Buffer[]): { seq: bigint; payload: Buffer; slot: number } | null {
  let best: { seq: bigint; payload: Buffer; slot: number } | null = null;
  slots.forEach((b, slot) => {
    const p = openPage(b);
    if (p && (!best || p.seq > best.seq)) best = { ...p, slot };
  });
  return best;
}

/** The page's seq and payload, or null when its checksum fails (torn, never written). */
function openPage(b: Buffer): { seq: bigint; payload: Buffer } | null {
  const seq = getU64LE(b, 0);
  if (seq === 0n) return null;
  if (getU64LE(b, 8) !== pageSum(b)) return null;
  return { seq, payload: b.subarray(PAGE_HEAD) };
}

export interface Ref { target: number; role: number; chunk: number; missing: boolean; validTo: number }
export interface Entry { gen: number; mode: Mode; stripes: number; refs: Ref[] }

export function encodeEntry(e: Entry, out: Buffer, at: number): void {
  out.writeUInt32LE(e.gen, at); out[at + 4] = e.mode; out[at + 5] = e.refs.length;
  out.writeUInt32LE(e.stripes, at + 8);
  let mask = 0;
  e.refs.forEach((r, i) => {
    if (r.missing) mask |= 1 << i;
    const o = at + 16 + 8 * i;
    out[o] = r.target; out[o + 1] = r.role; out.writeUInt16LE(r.missing ? r.validTo : 0, o + 2); out.writeUInt32LE(r.chunk, o + 4);
  });
  out.writeUInt32LE(mask >>> 0, at + 12);
}

export function decodeEntry(b: Buffer, at: number): Entry {
  const n = b[at + 5];
  const mask = b.readUInt32LE(at + 12);
  const refs: Ref[] = [];
  for (let i = 0; i < n; i++) {
    const o = at + 16 + 8 * i;
    refs.push({ target: b[o], role: b[o + 1], validTo: b.readUInt16LE(o + 2), chunk: b.readUInt32LE(o + 4), missing: (mask & (1 << i)) !== 0 });
  }
  return { gen: b.readUInt32LE(at), mode: b[at + 4], stripes: b.readUInt32LE(at + 8), refs };
}

/** The meta page's payload: which targets are current, and the id each must carry. */
export interface Meta { online: number; usedPages: number; ids: Buffer[] }
export function encodeMeta(m: Meta): Buffer {
  const p = Buffer.alloc(PAGE - PAGE_HEAD);
  p.writeUInt32LE(m.online >>> 0, 0);
  p.writeUInt32LE(m.usedPages, 4);
  m.ids.forEach((id, i) => id.copy(p, 8 + 16 * i));
  return p;
}
export function decodeMeta(p: Buffer, n: number): Meta {
  return { online: p.readUInt32LE(0), usedPages: p.readUInt32LE(4), ids: Array.from({ length: n }, (_, i) => Buffer.from(p.subarray(8 + 16 * i, 24 + 16 * i))) };
}

/** Scratch for a unit's identity (used synchronously, so one buffer serves every call). */
const UNIT_ID = Buffer.alloc(16);

/** The check of one unit: its data bound to the segment, stripe, role and generation it belongs to. */
function unitCheck(data: Uint8Array, seg: number, stripe: number, role: number, gen: number): bigint {
  UNIT_ID.writeUInt32LE(seg, 0); UNIT_ID.writeUInt32LE(stripe, 4); UNIT_ID.writeUInt32LE(role, 8); UNIT_ID.writeUInt32LE(gen, 12);
  return xxh64(data, xxh64(UNIT_ID));
}

/** Copies one unit's data to `out` at `at` (unless it is there already; zero-padded to `unit`) and writes its check after it. */
export function writeUnit(out: Buffer, at: number, data: Uint8Array, unit: number, seg: number, stripe: number, role: number, gen: number): void {
  if (data.buffer !== out.buffer || data.byteOffset !== out.byteOffset + at) out.set(data, at); // else already in place
  if (data.length < unit) out.fill(0, at + data.length, at + unit);
  writeCheck(out, at + unit, out.subarray(at, at + unit), seg, stripe, role, gen);
}

/** Writes the UNIT_CHECK bytes that follow a unit of `data` (a whole unit) to `out` at `at`: a vectored write stores the two side by side. */
export function writeCheck(out: Buffer, at: number, data: Uint8Array, seg: number, stripe: number, role: number, gen: number): void {
  putU64LE(out, at, unitCheck(data, seg, stripe, role, gen));
  out.writeUInt32LE(gen, at + 8); out.writeUInt32LE(UNIT_MAGIC, at + 12);
}

/**
 * True when the stored unit at `at` carries the trailer of this generation (its magic and gen),
 * without hashing its data: the check of a read whose caller verifies what it reads (records
 * carry checksums) and reads again verified when that fails.
 */
export function unitPresent(b: Buffer, at: number, unit: number, gen: number): boolean {
  return trailerPresent(b, at + unit, gen);
}

/** The same for a unit's trailer alone, at `at` of b. */
export function trailerPresent(b: Buffer, at: number, gen: number): boolean {
  return b.readUInt32LE(at + 12) === UNIT_MAGIC && b.readUInt32LE(at + 8) === gen;
}

/** True when the stored unit at `at` holds this segment's stripe/role of this generation intact. */
export function unitHolds(b: Buffer, at: number, unit: number, seg: number, stripe: number, role: number, gen: number): boolean {
  const c = at + unit;
  if (b.readUInt32LE(c + 12) !== UNIT_MAGIC || b.readUInt32LE(c + 8) !== gen) return false;
  return getU64LE(b, c) === unitCheck(b.subarray(at, c), seg, stripe, role, gen);
}
