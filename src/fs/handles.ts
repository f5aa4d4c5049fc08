/** Open file handles: which vnode each names, and whether its writes are synchronous (O_SYNC/O_DSYNC). */
import { fail } from '../errors.js';
import type { Vnode } from './vnode.js';

export interface OpenFile { v: Vnode; sync: boolean }

export class HandleTable {
  private open = new Map<number, OpenFile>();
  private nextFh = 1;

  add(v: Vnode, sync = false): number {
    const fh = this.nextFh++;
    v.handles++;
    this.open.set(fh, { v, sync });
    return fh;
  }

  has(fh: number): boolean { return this.open.has(fh); }

  get(fh: number): OpenFile {
    const h = this.open.get(fh);
    if (!h) fail('BAD_HANDLE', `no open file with handle ${fh}`);
    return h!;
  }

  release(fh: number): void {
    const h = this.open.get(fh);
    if (!h) return;
    this.open.delete(fh);
    h.v.handles--;
  }
}
