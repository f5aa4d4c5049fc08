/**
 * Open handles. Each kind (files; /.control; /.snapshots) numbers its handles in its own range,
 * so a handle number alone says which kind it is; numbers wrap within the range and skip those
 * still open.
 */
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { Vnode } from './vnode.js';

export class FhTable<T> {
  private open = new Map<number, T>();
  private next: number;
  constructor(private first: number, private end: number, private what: string) { this.next = first; }

  add(h: T): number {
    if (this.open.size >= this.end - this.first) fail('BUSY', `too many open ${this.what}s`);
    while (this.open.has(this.next)) this.step();
    const fh = this.next;
    this.step();
    this.open.set(fh, h);
    return fh;
  }

  private step(): void { this.next = this.next + 1 >= this.end ? this.first : this.next + 1; }

  has(fh: number): boolean { return this.open.has(fh); }

  get(fh: number): T {
    const h = this.open.get(fh);
    if (h === undefined) fail('BAD_HANDLE', `no open ${this.what} with handle ${fh}`);
    return h!;
  }

  /** Removes fh; returns what it held. */
  take(fh: number): T | undefined {
    const h = this.open.get(fh);
    this.open.delete(fh);
    return h;
  }
}

/** Open file handles: which vnode each names, and whether its writes are synchronous (O_SYNC/O_DSYNC). */
export interface OpenFile { v: Vnode; sync: boolean }

export class HandleTable {
  private table = new FhTable<OpenFile>(1, LIMITS.FH_SPAN, 'file');

  add(v: Vnode, sync = false): number {
    const fh = this.table.add({ v, sync });
    v.handles++;
    return fh;
  }

  has(fh: number): boolean { return this.table.has(fh); }
  get(fh: number): OpenFile { return this.table.get(fh); }

  release(fh: number): void {
    const h = this.table.take(fh);
    if (h) h.v.handles--;
  }
}
