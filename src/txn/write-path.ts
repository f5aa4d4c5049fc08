/**
 * The write path from requests to the open transaction group. Write requests to one file are
 * queued; those that arrive while the file's previous array is being applied (and, if
 * SG_GATHER_TURNS > 0, during that many event-loop turns) form the next scatter-gather array, up
 * to SG_MAX_ELEMENTS / SG_MAX_BYTES. Under
 * the file's lock the array is sorted into sets per block (sg.ts) and resolved into logical
 * transactions (resolve.ts); the old blocks they depend on are fetched concurrently; then every
 * logical transaction is applied to the open txg in one synchronous step, so a freeze sees all
 * of the array or none of it. If a freeze (or an unlink) replaced the open txg's dirty set while
 * blocks were being fetched, the array is resolved again. The txg that carries these logical transactions is their
 * physical transaction (commit.ts, txg.ts).
 */
import { invariant, LIMITS } from '../limits.js';
import type { Mutex } from './mutex.js';
import { resolveSets, LogicalTxn, Dependency } from './resolve.js';
import { overlay, SgElement, sortIntoSets } from './sg.js';
import { framedBuffer } from '../codec/record.js';

/** A file as the write path sees it. */
export interface TxnFile {
  readonly ino: bigint;
  readonly lock: Mutex;
  size(): number;
  /** The open txg's dirty set (compared by identity: a freeze or unlink replaces it). */
  openSet(): object;
  /** The block's copy in the open txg. */
  openBlock(lbn: number): Buffer | undefined;
  /** Content from the committing txg or the committed map; null when it reads as zeros. */
  storedBlock(lbn: number): Promise<Buffer | null>;
  /** Puts a new block into the open txg (it is counted as dirty). */
  addBlock(lbn: number, block: Buffer): void;
  /** Sets a larger size and marks the content changed. */
  written(size: number): void;
}

export interface WriteStats {
  elements: number; arrays: number; sets: number; dependent: number;
  overwrite: number; merge: number; zeroFill: number; oldBlock: number; reresolved: number;
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
    overwrite: 0, merge: 0, zeroFill: 0, oldBlock: 0, reresolved: 0,
  };
  /** Logical transactions applied to the open txg since the last freeze. */
  private openLogical = 0;
  private queues = new Map<bigint, Queue>();
  /** Hears of every array applied to the open txg, in the same synchronous step (the oplog numbers them there). */
  onApplied?: (ino: bigint, array: SgElement[]) => void;

  constructor(private blockSize: number) {}

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
        if (batch.length === 1) { batch[0].reject(e); continue; }
        // One bad element (say an old block that fails its checksum) must not fail the others.
        for (const r of batch) {
          await q.file.lock.run(() => this.apply(q.file, [r.elem])).then(r.resolve, r.reject);
        }
      }
    }
    this.queues.delete(q.file.ino);
  }

  /** Applies one scatter-gather array to the open txg; caller holds the file's lock. */
  async apply(file: TxnFile, array: SgElement[]): Promise<LogicalTxn[]> {
    const bs = this.blockSize;
    const sets = sortIntoSets(array, bs);
    // A block fetched while not dirty stays valid for this call: only this file's writes (which
    // wait for our lock) could change it, and a freeze only moves the open txg's blocks. So a
    // second attempt fetches only blocks that a freeze moved out of the open txg, and a third
    // has everything and applies without yielding.
    const got = new Map<number, Buffer | null>();
    for (let attempt = 0; ; attempt++) {
      invariant(attempt < LIMITS.SG_MAX_RESOLVES, 'a scatter-gather array resolves within SG_MAX_RESOLVES freezes');
      const set = file.openSet();
      const { txns, dependent, size } = resolveSets(sets, { size: file.size(), isDirty: (l) => file.openBlock(l) !== undefined }, bs);
      const missing = txns.filter((t) => t.dep === 'old-block' && !got.has(t.lbn));
      if (missing.length) {
        await Promise.all(missing.map(async (t) => { got.set(t.lbn, await file.storedBlock(t.lbn)); }));
        if (file.openSet() !== set) { this.stats.reresolved++; continue; }
      }
      // From here on synchronous: one step for a concurrent freeze.
      for (const t of txns) {
        let block = file.openBlock(t.lbn);
        invariant(block || t.dep !== 'merge', 'a merge finds its block in the open txg');
        if (!block) {
          const base = t.dep === 'old-block' ? got.get(t.lbn) : null;
          // framed: the commit encodes the block into its record in place (codec/record.ts)
          block = framedBuffer(bs, !base && t.dep !== 'overwrite');
          if (base && base.copy(block) < bs) block.fill(0, base.length);
          file.addBlock(t.lbn, block);
        }
        overlay(block, t.set.pieces);
        const dep = t.dep === 'old-block' && !got.get(t.lbn) ? 'zero-fill' : t.dep; // the stored block was unmapped or zero
        this.stats[DEP_STAT[dep]]++;
      }
      if (txns.length) file.written(size);
      this.onApplied?.(file.ino, array);
      this.count(array.length, txns.length, dependent.length);
      return txns;
    }
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
