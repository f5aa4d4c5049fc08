/**
 * The write path from requests to the open transaction group. Write requests to one file are
 * queued; those that arrive while the file's previous array is being applied (and, if
 * SG_GATHER_TURNS > 0, during that many event-loop turns) form the next scatter-gather array, up
 * to SG_MAX_ELEMENTS / SG_MAX_BYTES. Under
 * the file's lock the array is sorted into sets per block (sg.ts) and resolved into logical
 * transactions (resolve.ts), and every logical transaction is applied to the open txg in one
 * synchronous step, so a freeze sees all of the array or none of it. A set that depends on the
 * old block does not wait for it: its block goes into the open txg partly written, and the rest
 * is filled in from the stored block when the block is first needed whole (fs/partial.ts) —
 * at the latest by the commit, which fetches all of them at once. The txg that carries these
 * logical transactions is their physical transaction (commit.ts, txg.ts).
 */
import { invariant, LIMITS } from '../limits.js';
import type { Mutex } from './mutex.js';
import { resolveSets, LogicalTxn, Dependency } from './resolve.js';
import { overlay, SgElement, SgPiece, sortIntoSets } from './sg.js';
import { DirtyBlocks } from './dirty-blocks.js';

/** A file as the write path sees it. */
export interface TxnFile {
  readonly ino: bigint;
  readonly lock: Mutex;
  size(): number;
  /** The block's copy in the open txg. */
  openBlock(lbn: number): Buffer | undefined;
  /** Puts a new block into the open txg (it is counted as dirty). */
  addBlock(lbn: number, block: Buffer): void;
  /** The same for a block whose bytes outside what is written into it come from the stored block, later. */
  addPartial(lbn: number, block: Buffer): void;
  /** The pieces just overlaid on the open txg's copy of block lbn (a partly written one keeps their ranges). */
  written(lbn: number, pieces: readonly SgPiece[]): void;
  /** Sets a larger size and marks the content changed. */
  grown(size: number): void;
}

export interface WriteStats {
  elements: number; arrays: number; sets: number; dependent: number;
  overwrite: number; merge: number; zeroFill: number; oldBlock: number;
}

interface Request { elem: SgElement; resolve: () => void; reject: (e: unknown) => void }
interface Queue { file: TxnFile; waiting: Request[] }

const turn = () => new Promise<void>((r) => setImmediate(r));
const DEP_STAT: Record<Dependency, 'overwrite' | 'merge' | 'zeroFill' | 'oldBlock'> = {
  overwrite: 'overwrite', merge: 'merge', 'zero-fill': 'zeroFill', 'old-block': 'oldBlock',
};

export class WritePath {
  readonly stats: WriteStats = {
    elements: 0, arrays: 0, sets: 0, dependent: 0,
    overwrite: 0, merge: 0, zeroFill: 0, oldBlock: 0,
  };
  /** Logical transactions applied to the open txg since the last freeze. */
  private openLogical = 0;
  private queues = new Map<bigint, Queue>();
  /** Hears of every array applied to the open txg, in the same synchronous step (the oplog numbers them there). */
  onApplied?: (ino: bigint, array: SgElement[]) => void;

  /** Where the blocks a write makes dirty come from (given back once committed: fs/filesystem.ts committed). */
  readonly blocks: DirtyBlocks;

  constructor(private blockSize: number) { this.blocks = new DirtyBlocks(blockSize); }

  /** Resolves once the write is in the open transaction group. */
  write(file: TxnFile, off: number, data: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const req = { elem: { off, data }, resolve, reject };
      const q = this.queues.get(file.ino);
      if (q) { q.waiting.push(req); return; }
      const fresh: Queue = { file, waiting: [req] };
      this.queues.set(file.ino, fresh);
      void this.drain(fresh);
    });
  }

  /** Taken by a freeze: the logical transactions its physical transaction carries. */
  takeOpenLogical(): number { const n = this.openLogical; this.openLogical = 0; return n; }

  private async drain(q: Queue): Promise<void> {
    for (let i = 0; i < LIMITS.SG_GATHER_TURNS; i++) await turn();
    while (q.waiting.length) {
      const batch = takeArray(q.waiting);
      try {
        await q.file.lock.run(() => this.apply(q.file, batch.map((r) => r.elem)));
        for (const r of batch) r.resolve();
      } catch (e) {
        // Applying does no I/O (old blocks are filled in later): only a broken invariant gets here.
        for (const r of batch) r.reject(e);
      }
    }
    this.queues.delete(q.file.ino);
  }

  /** Applies one scatter-gather array to the open txg; caller holds the file's lock. Synchronous: one step for a concurrent freeze. */
  async apply(file: TxnFile, array: SgElement[]): Promise<LogicalTxn[]> {
    const bs = this.blockSize;
    const sets = sortIntoSets(array, bs);
    const { txns, dependent, size } = resolveSets(sets, { size: file.size(), isDirty: (l) => file.openBlock(l) !== undefined }, bs);
    for (const t of txns) {
      let block = file.openBlock(t.lbn);
      invariant(block || t.dep !== 'merge', 'a merge finds its block in the open txg');
      if (!block) {
        // framed: the commit encodes the block into its record in place (codec/record.ts)
        block = this.blocks.take(t.dep === 'zero-fill');
        if (t.dep === 'old-block') file.addPartial(t.lbn, block); else file.addBlock(t.lbn, block);
      }
      overlay(block, t.set.pieces);
      file.written(t.lbn, t.set.pieces);
      this.stats[DEP_STAT[t.dep]]++;
    }
    if (txns.length) file.grown(size);
    this.onApplied?.(file.ino, array);
    this.count(array.length, txns.length, dependent.length);
    return txns;
  }

  /** One logical transaction per set: `sets` counts both. */
  private count(elements: number, txns: number, dependent: number): void {
    const s = this.stats;
    s.arrays++; s.elements += elements; s.sets += txns; s.dependent += dependent;
    this.openLogical += txns;
  }
}

/** Takes the next scatter-gather array off a queue, within the element and byte limits. */
function takeArray(waiting: Request[]): Request[] {
  let n = 0, bytes = 0;
  while (n < waiting.length && n < LIMITS.SG_MAX_ELEMENTS) {
    bytes += waiting[n].elem.data.length;
    if (n > 0 && bytes > LIMITS.SG_MAX_BYTES) break;
    n++;
  }
  return waiting.splice(0, n);
}
