/**
 * Dead lists (format v2): blocks a file's live map dropped while a snapshot still held them.
 *
 * A record (data block or map node) of file F born in txg b and dropped from F's live map in
 * txg d is freed at once when b > the txg of F's newest snapshot (no snapshot can hold it).
 * Otherwise it goes here, keyed by its death. So the entries with death in (P.txg, S.txg] are
 * S's dead list: held by P (and perhaps older snapshots) but not by S; all of them have
 * birth ≤ P.txg. Deleting S frees, from the next dead list (death in (S.txg, N.txg], N the next
 * snapshot or ∞), exactly the entries born after P — held by S alone — and leaves the rest,
 * which joins N's list by range. No entry is ever rewritten.
 *
 * Key (32 bytes, big-endian so that key order is (ino, death, birth) order):
 * | off | size | field | meaning                              |
 * |-----|------|-------|--------------------------------------|
 * |   0 |    8 | ino   | file                                 |
 * |   8 |    8 | death | txg that dropped it from the live map |
 * |  16 |    8 | birth | txg that wrote it                    |
 * |  24 |    4 | seg   | where it is                          |
 * |  28 |    4 | off   |                                      |
 * Value: its 32-byte block pointer (src/format/ptr.ts).
 */
import type { BlockPtr } from '../format/ptr.js';
import { getU64BE, putU64BE } from '../codec/u64.js';

export function deadKey(ino: bigint, death: bigint, p: Pick<BlockPtr, 'birth' | 'seg' | 'off'>): Buffer {
  const k = Buffer.alloc(32);
  putU64BE(k, 0, ino);
  putU64BE(k, 8, death);
  putU64BE(k, 16, p.birth);
  k.writeUInt32BE(p.seg, 24);
  k.writeUInt32BE(p.off, 28);
  return k;
}

/** The first key of ino's entries that died after txg `after` (scan bound). */
export function deadFrom(ino: bigint, after: bigint): Buffer {
  return deadKey(ino, after + 1n, { birth: 0n, seg: 0, off: 0 });
}

export const deadBirth = (k: Buffer): bigint => getU64BE(k, 16);
/** The first key past every entry of ino. */
export const deadEnd = (ino: bigint): Buffer => deadKey(ino + 1n, 0n, { birth: 0n, seg: 0, off: 0 });
