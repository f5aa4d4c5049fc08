/**
 * A /dev/fuse reader thread (worker_threads): blocks in read(2) for the next request and moves
 * it to the main thread. A blocking read here holds no libuv pool thread, which the datastore's
 * own file I/O needs. Ends with { end: true } when the connection is gone.
 *
 * A request of fewer than FUSE_LENT_REQUEST_BYTES is copied into an ArrayBuffer of its own,
 * which is transferred (not copied again). A larger one (a WRITE's data) is read into a whole
 * request buffer that is transferred as it is, { buf, n }, and comes back on `back` once its
 * write is applied (session.ts): 1 MiB sequential writes then cost no copy here and no fresh
 * 1 MiB of the main thread's memory each (V8 collects on external memory). At most
 * FUSE_SPARE_REQUESTS buffers that came back are kept.
 */
import { readSync } from 'node:fs';
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { LIMITS } from '../../limits.js';

const { fd, size, back } = workerData as { fd: number; size: number; back: MessagePort };
/** errno codes after which the next read may succeed (a request vanished while being read). */
const RETRY = new Set(['EINTR', 'EAGAIN', 'ENOENT']);
const spare: ArrayBuffer[] = [];
let cur: ArrayBuffer | null = null;
let view = new Uint8Array(0); // over cur
for (;;) {
  for (let m = receiveMessageOnPort(back); m; m = receiveMessageOnPort(back)) {
    if (spare.length < LIMITS.FUSE_SPARE_REQUESTS) spare.push(m.message as ArrayBuffer);
  }
  if (!cur) { cur = spare.pop() ?? new ArrayBuffer(size); view = new Uint8Array(cur); }
  let n: number;
  try {
    n = readSync(fd, view, 0, size, null);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (RETRY.has(code)) continue;
    parentPort!.postMessage({ end: true, code });
    break;
  }
  if (n >= LIMITS.FUSE_LENT_REQUEST_BYTES) {
    parentPort!.postMessage({ buf: cur, n }, [cur]);
    cur = null;
    continue;
  }
  const req = new ArrayBuffer(n);
  new Uint8Array(req).set(view.subarray(0, n));
  parentPort!.postMessage(req, [req]);
}
