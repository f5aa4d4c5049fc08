/**
 * Sequential read-ahead for a vdisk. A read that starts within READ_AHEAD_BYTES of where the
 * file's last read ended is sequential (the kernel may send a stream's requests a little out of
 * order); it extends the window of blocks fetched ahead to READ_AHEAD_BYTES past its end, so that
 * a reader that waits for each request before sending the next (direct I/O through libfuse 2)
 * finds the next blocks already read and decoded. The window is refilled when less than half of
 * it is left, so that the datastore reads it in few long runs (Datastore.prefetch). Blocks dirty in memory are not fetched (reads
 * take those first), nor blocks past the end of the file. Random reads fetch only what they touch.
 */
import { LIMITS } from '../limits.js';

export interface ReadAheadState {
  /** Where the last read ended (-1: no read yet). */
  next: number;
  /** Blocks below this were fetched or asked for already. */
  ahead: number;
}
export const noReadAhead = (): ReadAheadState => ({ next: -1, ahead: 0 });

/** The blocks [from, to) to fetch after a read of len bytes at off, or null; updates the state. */
export function planReadAhead(s: ReadAheadState, off: number, len: number, size: number, bs: number): [number, number] | null {
  const window = LIMITS.READ_AHEAD_BYTES;
  // Near where the last ended: within the slack, or two of these requests (large ones in flight
  // together may arrive a request out of order). Not the whole window: a random 4 KiB read then
  // looked sequential once in ~250 on a 1 GiB vdisk and fetched 2 MiB.
  const slack = Math.min(window, Math.max(LIMITS.READ_AHEAD_SEQ_SLACK_BYTES, 2 * len));
  const sequential = s.next >= 0 && Math.abs(off - s.next) <= slack;
  s.next = off + len;
  if (!sequential) { s.ahead = 0; return null; }
  // Fetch in large steps (few, long reads of the layout): only when less than half a window is left.
  if (s.ahead * bs >= off + len + window / 2) return null;
  const from = Math.max(s.ahead, Math.ceil((off + len) / bs));
  const to = Math.min(Math.ceil(size / bs), Math.ceil((off + len + window) / bs));
  if (to <= from) return null;
  s.ahead = to;
  return [from, to];
}
