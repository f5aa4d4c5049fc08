/**
 * Direct writes: a commit's log chunks go to the datastore file with O_DIRECT, from reused
 * staging buffers, instead of through the page cache. Copying a commit into fresh page-cache
 * pages is what bounded sequential writes on a virtual machine whose freed memory goes back to
 * its host (virtio-balloon free page reporting: every new page faults on the host first):
 * buffered writes into a growing file ran at 300-450 MiB/s there, direct ones at 840-1,230
 * (native-notes/direct-writes.md). The staging buffers stay mapped, so they cost no faults.
 *
 * O_DIRECT wants the file offset, the length and the buffer's address aligned (512 bytes on the
 * disks seen here, statx STATX_DIOALIGN). vdfs aligns all three to DIRECT_ALIGN (4096), which
 * also keeps every write whole file-system blocks. JavaScript cannot see an address, so each
 * staging buffer is allocated DIRECT_ALIGN bytes longer and the aligned start inside it is found
 * by probing: the DIRECT_ALIGN bytes at DIRECT_PROBE_AT (in the header region, where the format
 * writes nothing) are read, then written back unchanged directly from each candidate start
 * (malloc aligns to 16) until one is taken; a misaligned one fails with EINVAL. (A direct read
 * would not tell, nor would a write smaller than a block: ext4 serves those through the page
 * cache.) The header region exists before the first commit (Datastore.mkfs writes it first);
 * should the read come back short, the question stays open: take() gives null and the caller
 * writes that chunk buffered.
 */
import { constants, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { invariant, LIMITS } from '../limits.js';

/** Direct writes a target takes: offsets, lengths and take()'s buffers are multiples of `align`. */
export interface DirectWrites {
  readonly align: number;
  /** A WRITE_CHUNK_BYTES buffer whose start is aligned (contents undefined), or null: write this chunk buffered. */
  take(): Buffer | null;
  /** Gives back a buffer from take() that is not written. */
  give(b: Buffer): void;
  /** Writes the first `len` bytes of `b` (from take(); len a multiple of align) at off; durable at the next sync. `b` goes back to the pool when done. */
  write(off: number, b: Buffer, len: number): Promise<void>;
  close(): Promise<void>;
}

// The probe's bytes lie past the commit ring and before the second superblock (format/superblock.ts).
invariant(LIMITS.COMMIT_RING_OFFSET + LIMITS.COMMIT_SLOTS * LIMITS.SLOT_SIZE <= LIMITS.DIRECT_PROBE_AT
  && LIMITS.DIRECT_PROBE_AT + LIMITS.DIRECT_ALIGN <= LIMITS.HEADER_REGION - LIMITS.SLOT_SIZE, 'the direct-write probe touches no header structure');

/** malloc's alignment on 64-bit Linux: candidate starts are this far apart. */
const MALLOC_ALIGN = 16;

export class FileDirect implements DirectWrites {
  private pool: Buffer[] = [];
  /** Buffers handed out and not yet back. */
  out = 0;
  /** Set when no start of a buffer took a direct write: every later take() gives null without allocating and probing again. */
  private refused = false;
  readonly align = LIMITS.DIRECT_ALIGN;
  private constructor(private fh: FileHandle, private plainFd: number) {}

  /** Opens `path` for direct writes (`plainFd`: the file opened without O_DIRECT); null where the file system refuses O_DIRECT. */
  static async open(path: string, plainFd: number): Promise<FileDirect | null> {
    const fh = await open(path, constants.O_RDWR | constants.O_DIRECT).catch(() => null);
    if (!fh) return null;
    return new FileDirect(fh, plainFd);
  }

  take(): Buffer | null {
    if (this.refused) return null;
    const b = this.pool.pop() ?? this.allocate();
    if (b) this.out++;
    return b;
  }

  private allocate(): Buffer | null {
    const raw = Buffer.allocUnsafeSlow(LIMITS.WRITE_CHUNK_BYTES + this.align);
    for (let k = 0; k < this.align; k += MALLOC_ALIGN) {
      const r = this.probe(raw.subarray(k, k + this.align));
      if (r === 'short') return null;
      if (r === 'ok') return raw.subarray(k, k + LIMITS.WRITE_CHUNK_BYTES);
    }
    this.refused = true; // the file system takes no direct write of a block from any address
    return null;
  }

  /** The bytes at DIRECT_PROBE_AT written back from b directly: 'ok', 'misaligned' (EINVAL) or 'short' (not known yet). */
  private probe(b: Buffer): 'ok' | 'misaligned' | 'short' {
    // Synchronous, on the datastore file (never the mount): once per staging buffer allocated.
    if (readSync(this.plainFd, b, 0, b.length, LIMITS.DIRECT_PROBE_AT) !== b.length) return 'short';
    try {
      return writeSync(this.fh.fd, b, 0, b.length, LIMITS.DIRECT_PROBE_AT) === b.length ? 'ok' : 'short';
    } catch (e) {
      // EINVAL: misaligned; anything else: write buffered (a real fault shows there, with its error)
      return (e as NodeJS.ErrnoException).code === 'EINVAL' ? 'misaligned' : 'short';
    }
  }

  give(b: Buffer): void {
    this.out--;
    if (this.pool.length * LIMITS.WRITE_CHUNK_BYTES < LIMITS.DIRECT_POOL_BYTES) this.pool.push(b);
  }

  async write(off: number, b: Buffer, len: number): Promise<void> {
    invariant(off % this.align === 0 && len % this.align === 0 && len <= b.length, 'direct writes are aligned');
    try {
      for (let done = 0; done < len;) {
        const { bytesWritten } = await this.fh.write(b, done, len - done, off + done);
        invariant(bytesWritten > 0 && bytesWritten % this.align === 0, 'a direct write moves whole aligned units');
        done += bytesWritten;
      }
    } finally {
      this.give(b);
    }
  }

  async close(): Promise<void> { this.pool = []; await this.fh.close(); }
}

/** Direct writes emulated over a target's write() (tests, in-memory targets): alignment is checked, nothing else differs. */
export class EmulatedDirect implements DirectWrites {
  writes = 0;
  private pool: Buffer[] = [];
  constructor(private put: (off: number, data: Buffer) => Promise<void>, readonly align = LIMITS.DIRECT_ALIGN) {}
  /** Filled with 0xa5 once: bytes the appender leaves unset (padding it should zero) are not zeros by luck. */
  take(): Buffer | null { return this.pool.pop() ?? Buffer.alloc(LIMITS.WRITE_CHUNK_BYTES, 0xa5); }
  async write(off: number, b: Buffer, len: number): Promise<void> {
    invariant(off % this.align === 0 && len % this.align === 0 && len <= b.length, 'direct writes are aligned');
    this.writes++;
    try { await this.put(off, Buffer.from(b.subarray(0, len))); } finally { this.give(b); }
  }
  give(b: Buffer): void { if (this.pool.length * LIMITS.WRITE_CHUNK_BYTES < LIMITS.DIRECT_POOL_BYTES) this.pool.push(b); }
  async close(): Promise<void> {}
}
