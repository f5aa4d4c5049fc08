/**
 * Offset resolution and logical transactions, steps three and four of the write path. For each
 * set (one file block) resolution decides what the new block content depends on:
 *
 * | dependency  | when                                                     | needs               |
 * |-------------|----------------------------------------------------------|---------------------|
 * | overwrite   | the set's pieces cover the whole block                   | nothing             |
 * | merge       | partial, and the block is already dirty in the open txg  | the dirty copy      |
 * | zero-fill   | partial, and the block starts at or past EOF             | a zeroed block      |
 * | old-block   | partial, inside EOF                                      | the stored block    |
 *
 * An old-block set whose block turns out unmapped (the fetch finds nothing) is zero-filled and
 * counted so (write-path.ts): knowing it here would take a map lookup, which is I/O.
 *
 * A set whose resolution changes metadata (a new block pointer or extent state in this txg: the
 * block was not yet dirty; or a new file size) joins the transaction-dependent array. Each set
 * becomes one logical transaction carrying its metadata updates. Pure functions.
 */
import { coversBlock, SgSet } from './sg.js';

export type Dependency = 'overwrite' | 'merge' | 'zero-fill' | 'old-block';

/** What resolution may ask of the file, all synchronous (whether a block is mapped takes I/O). */
export interface FileView {
  size: number;
  /** True when the block has a copy in the open transaction group. */
  isDirty(lbn: number): boolean;
}

export interface LogicalTxn {
  lbn: number;
  dep: Dependency;
  set: SgSet;
  /** Metadata this logical transaction changes. */
  updates: { blockPtr: boolean; size: number | null };
}

export interface Resolution {
  txns: LogicalTxn[];        // one per set, blocks ascending
  dependent: LogicalTxn[];   // the transaction-dependent array: those that change metadata
  size: number;              // the file size once all are applied
}

export function resolveSets(sets: readonly SgSet[], view: FileView, blockSize: number): Resolution {
  let size = view.size;
  const txns: LogicalTxn[] = [];
  for (const set of sets) {
    const dep = dependencyOf(set, view, blockSize);
    const end = set.lbn * blockSize + Math.max(...set.pieces.map((p) => p.at + p.bytes.length));
    const grows = end > size;
    if (grows) size = end;
    txns.push({ lbn: set.lbn, dep, set, updates: { blockPtr: !view.isDirty(set.lbn), size: grows ? end : null } });
  }
  return { txns, dependent: txns.filter((t) => t.updates.blockPtr || t.updates.size !== null), size };
}

function dependencyOf(set: SgSet, view: FileView, blockSize: number): Dependency {
  if (coversBlock(set.pieces, blockSize)) return 'overwrite';
  if (view.isDirty(set.lbn)) return 'merge';
  if (set.lbn * blockSize >= view.size) return 'zero-fill';
  return 'old-block';
}
