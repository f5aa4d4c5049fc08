/**
 * One FUSE connection: FUSE_READERS reader threads (reader.ts) wait in read(2) on /dev/fuse and
 * hand each request to this thread, which dispatches it; every request that takes a reply gets
 * exactly one, with the payload or an errno.
 *
 * A write to /dev/fuse only hands the reply to the waiting request inside the kernel and never
 * blocks (it is not I/O on the mount). Small replies are written with writevSync; one of at
 * least FUSE_ASYNC_REPLY_BYTES (a large READ) with writev on libuv's pool, as the kernel's copy
 * of its bytes into the reader's pages is the biggest single cost of a sequential read (a fifth
 * of the event loop's time at 1 MiB). Its pieces are never written again (fs/data.ts). A reply
 * to a request the kernel stopped waiting for (interrupted, or the connection aborted) fails
 * with ENOENT and is dropped. `written` hears of a reply's pieces once the kernel is done with
 * them (written, refused or dropped): they may be read buffers to reuse (txn/read-loans.ts).
 */
import { writev, writevSync } from 'node:fs';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { LIMITS } from '../../limits.js';
import { EIO, ENOSYS, toErrno } from '../errno.js';
import type { Reply } from './ops.js';
import * as P from './proto.js';

/** A request in its reader's buffer: the first n bytes of buf. */
type Lent = { buf: ArrayBuffer; n: number };
type Log = { error(o: object, msg: string): void; warn(o: object, msg: string): void };
type Handler = (h: P.InHeader, body: Buffer) => Promise<Reply> | Reply;

/** Codes with which a reader ends on a connection that is simply over (unmounted, aborted, closed). */
const GONE = new Set(['ENODEV', 'EBADF']);
const READER = new URL('./reader.js', import.meta.url);

export class Session {
  private readersLeft = 0;
  /** Replies being written on the pool: the descriptor stays open until they are done. */
  private writing = 0;
  /** The connection is over: late replies are dropped (the descriptor may be closed, its number reused). */
  private over = false;
  private resolveClosed!: () => void;
  /** Settles when every reader has seen the connection end and no reply is being written. */
  readonly closed = new Promise<void>((r) => { this.resolveClosed = r; });

  constructor(private fd: number, private handlers: Map<number, Handler>, private log: Log,
    private written: (pieces: Buffer[]) => void = () => undefined) {}

  start(): void {
    const size = LIMITS.FUSE_MAX_WRITE + 64 * 1024; // header + write_in + max_write, with room
    this.readersLeft = LIMITS.FUSE_READERS;
    for (let i = 0; i < LIMITS.FUSE_READERS; i++) {
      const { port1, port2 } = new MessageChannel();
      port1.unref();
      const w = new Worker(READER, { workerData: { fd: this.fd, size, back: port2 }, transferList: [port2] });
      w.unref();
      w.on('message', (m: ArrayBuffer | Lent | { end: true; code: string }) => {
        if (m instanceof ArrayBuffer) { if (m.byteLength >= P.IN_HEADER) this.dispatch(Buffer.from(m)); return; }
        if ('buf' in m) { this.dispatch(Buffer.from(m.buf, 0, m.n), () => this.handBack(port1, m.buf)); return; }
        if (!GONE.has(m.code)) this.log.error({ code: m.code }, 'reading /dev/fuse failed');
      });
      w.on('error', (err) => this.log.error({ err }, '/dev/fuse reader failed'));
      w.on('exit', () => { if (--this.readersLeft === 0) { this.over = true; this.settle(); } });
    }
  }

  /**
   * Runs a request's handler and replies. `done` (a request in its reader's buffer) is called
   * once a WRITE's handler settled — its data is in the open txg, or refused — and the buffer
   * can be read into again; any other request's buffer is left to the collector (a handler may
   * keep slices of it).
   */
  private dispatch(req: Buffer, done?: () => void): void {
    const h = P.readInHeader(req);
    const body = req.subarray(P.IN_HEADER, h.len);
    const fn = this.handlers.get(h.opcode);
    const after = h.opcode === P.OP.WRITE ? done : undefined;
    if (!fn) return this.reply(h, ENOSYS);
    let out: Promise<Reply> | Reply;
    try { out = fn(h, body); } catch (e) { this.failed(h, e); after?.(); return; }
    if (!(out instanceof Promise)) { this.reply(h, out); after?.(); return; }
    out.then((r) => this.reply(h, r), (e) => this.failed(h, e)).finally(after);
  }

  /** A request buffer back to its reader (transferred: a slice kept by mistake would read as empty, never as a later request). */
  private handBack(port: MessagePort, buf: ArrayBuffer): void {
    if (!this.over) port.postMessage(buf, [buf]);
  }

  private failed(h: P.InHeader, e: unknown): void {
    const errno = toErrno(e);
    if (errno === EIO) this.log.error({ op: h.opcode, err: e }, 'request failed');
    this.reply(h, errno);
  }

  private settle(): void {
    if (this.over && this.writing === 0) this.resolveClosed();
  }

  private reply(h: P.InHeader, r: Reply): void {
    if (r === null) return;
    const parts = typeof r === 'number' ? [] : Array.isArray(r) ? r : [r];
    if (this.over) return this.giveBack(h, parts);
    let len = P.OUT_HEADER;
    for (const p of parts) len += p.length;
    // One write per reply: past IOV_MAX buffers, libuv would split it in two, which the kernel refuses.
    const body = parts.length < LIMITS.IOV_MAX ? parts : [Buffer.concat(parts)];
    const iov = [P.outHeader(len, typeof r === 'number' ? r : 0, h.unique), ...body];
    if (len >= LIMITS.FUSE_ASYNC_REPLY_BYTES) {
      this.writing++;
      writev(this.fd, iov, (e) => {
        this.writing--;
        if (e) this.refused(h, e);
        this.giveBack(h, parts);
        this.settle();
      });
      return;
    }
    try {
      writevSync(this.fd, iov);
    } catch (e) {
      this.refused(h, e);
    }
    this.giveBack(h, parts);
  }

  /** Hands a reply's pieces back; a failure there (a broken invariant) is logged, never thrown into a write's callback. */
  private giveBack(h: P.InHeader, parts: Buffer[]): void {
    try { this.written(parts); } catch (err) { this.log.error({ op: h.opcode, err }, 'giving back a reply\'s pieces failed'); }
  }

  private refused(h: P.InHeader, e: unknown): void {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code !== 'ENOENT' && !GONE.has(code)) this.log.warn({ op: h.opcode, err: e }, 'reply refused by the kernel');
  }
}
