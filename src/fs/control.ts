/**
 * The hidden /.control tree:
 * - `status`: read-only JSON of the datastore's figures, rendered when opened (reads end where
 *   the content ends; the reported size is an upper bound, STATUS_FILE_BYTES).
 * - `command`: each write is one command (fs/command.ts); the write returns when the command is
 *   done. A bad command changes nothing and fails with INVALID (EINVAL); its reason goes to
 *   `last-error` and to the log. Reading the handle a command was written through gives that
 *   command's result as JSON lines (open it with O_DIRECT, or the page cache answers with the
 *   bytes written).
 * - `last-error`: the newest refused command and why.
 */
import { fail, isVdfsError, VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { S_IFDIR, S_IFREG } from '../meta/inode.js';
import { CONTROL_CHARS, parseCommand } from './command.js';
import { runCommand } from './commands.js';
import type { Filesystem, Stat } from './filesystem.js';
import { CONTROL_DIR, HiddenTree, hiddenStat } from './hidden.js';
import { FhTable } from './handles.js';
import { splitPath } from './names.js';
import { statusOf } from './status.js';

const FILES = { status: 3, command: 4, 'last-error': 5 } as const;
type File = keyof typeof FILES;
const CONTROL_INO = 2;
/** Errors that are the datastore's, not the command's: they keep their own code. */
const OWN_CODES = new Set(['IO', 'CHECKSUM', 'CORRUPT', 'READ_ONLY', 'NO_SPACE']);

interface Handle { file: File; content: Buffer }

/** The status JSON, within STATUS_FILE_BYTES (the size it reports): the oldest kept alarms give way. */
function statusText(fs: Filesystem): Buffer {
  for (let keep: number = LIMITS.ALARMS_KEPT; ; keep = Math.floor(keep / 2)) {
    const b = Buffer.from(JSON.stringify(statusOf(fs, keep), null, 2) + '\n');
    if (b.length <= LIMITS.STATUS_FILE_BYTES || keep === 0) return b;
  }
}

export class ControlTree implements HiddenTree {
  readonly name = CONTROL_DIR;
  readonly fhBase = LIMITS.FH_SPAN;
  private handles = new FhTable<Handle>(this.fhBase, this.fhBase + LIMITS.FH_SPAN, 'control file');
  private readonly started = Date.now();
  lastError = '';
  constructor(private fs: Filesystem) {}

  private file(path: string): File | null {
    const parts = splitPath(path);
    if (parts.length === 1) return null;
    const f = parts[1] as File;
    if (parts.length > 2 || !(f in FILES)) fail('NOT_FOUND', `${path}: no such control file`);
    return f;
  }

  private statOf(f: File | null): Stat {
    if (f === null) return hiddenStat(CONTROL_INO, S_IFDIR | 0o555, 0, this.started, 2);
    // status and command report an upper bound (reads end where the content ends): a reader
    // that trusts the size, as the kernel does for O_DIRECT reads, must not stop at 0.
    const size = f === 'status' ? LIMITS.STATUS_FILE_BYTES : f === 'command' ? LIMITS.COMMAND_REPLY_MAX_BYTES : Buffer.byteLength(this.lastError);
    return { ...hiddenStat(FILES[f], S_IFREG | (f === 'command' ? 0o644 : 0o444), size, this.started), mtime: Date.now() };
  }

  async stat(path: string): Promise<Stat> { return this.statOf(this.file(path)); }

  async readdir(path: string): Promise<{ names: string[]; stats: Stat[] }> {
    if (this.file(path) !== null) fail('NOT_DIR', `${path} is not a directory`);
    const names = Object.keys(FILES) as File[];
    return { names, stats: names.map((n) => this.statOf(n)) };
  }

  async open(path: string, writable: boolean): Promise<number> {
    const f = this.file(path);
    if (f === null) fail('IS_DIR', `${path} is a directory`);
    if (writable && f !== 'command') fail('READ_ONLY', `${path} is read-only`);
    const content = f === 'status' ? statusText(this.fs)
      : f === 'last-error' ? Buffer.from(this.lastError) : Buffer.alloc(0);
    return this.handles.add({ file: f!, content });
  }

  async read(fh: number, off: number, len: number): Promise<Buffer> {
    const b = this.handles.get(fh).content;
    return b.subarray(Math.min(off, b.length), Math.min(off + len, b.length));
  }

  /** One write, one command; its result is appended to what the handle reads back. */
  async write(fh: number, _off: number, data: Buffer): Promise<void> {
    const h = this.handles.get(fh);
    if (h.file !== 'command') fail('READ_ONLY', 'only /.control/command takes writes');
    let result;
    try {
      result = await runCommand(this.fs, parseCommand(data));
    } catch (e) {
      this.refuse(data, e);
    }
    const out = Buffer.from(JSON.stringify(result) + '\n');
    if (h.content.length + out.length > LIMITS.COMMAND_REPLY_MAX_BYTES) {
      this.refuse(data, new VdfsError('INVALID', `the reply (${out.length} bytes) is over ${LIMITS.COMMAND_REPLY_MAX_BYTES} bytes; name a smaller PATH`));
    }
    h.content = Buffer.concat([h.content, out]);
  }

  /** Records why a command was refused (last-error, log) and throws: INVALID unless the datastore itself failed. */
  private refuse(data: Buffer, e: unknown): never {
    const code = isVdfsError(e) ? e.code : 'IO';
    const line = data.subarray(0, LIMITS.COMMAND_ECHO_BYTES).toString('utf8').replace(new RegExp(CONTROL_CHARS.source, 'g'), ' ').trim();
    this.lastError = `${new Date().toISOString()} ${JSON.stringify(line)}: ${(e as Error).message}\n`;
    this.fs.log.warn({ command: line, reason: (e as Error).message }, 'control command refused');
    if (OWN_CODES.has(code)) throw e;
    throw new VdfsError('INVALID', (e as Error).message);
  }

  /** `echo cmd > command` truncates first: allowed, and a no-op, for the command file only. */
  truncate(path: string): void {
    if (this.file(path) !== 'command') fail('READ_ONLY', `${path} is read-only`);
  }

  release(fh: number): void { this.handles.take(fh); }
}
