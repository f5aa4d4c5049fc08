/**
 * A /dev/fuse reader thread (worker_threads): blocks in read(2) for the next request and moves a
 * copy of it to the main thread (the ArrayBuffer is transferred, not copied again). A blocking
 * read here holds no libuv pool thread, which the datastore's own file I/O needs. Ends with
 * { end: true } when the connection is gone.
 */
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const { fd, size } = workerData as { fd: number; size: number };
/** errno codes after which the next read may succeed (a request vanished while being read). */
const RETRY = new Set(['EINTR', 'EAGAIN', 'ENOENT']);
const buf = Buffer.allocUnsafe(size);
for (;;) {
  let n: number;
  try {
    n = readSync(fd, buf, 0, size, null);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (RETRY.has(code)) continue;
    parentPort!.postMessage({ end: true, code });
    break;
  }
  const req = new ArrayBuffer(n);
  new Uint8Array(req).set(buf.subarray(0, n));
  parentPort!.postMessage(req, [req]);
}
