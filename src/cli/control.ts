/**
 * Control commands from the command line (`vdfs snapshot …`, `vdfs restore …`, `vdfs verify …`).
 * The arguments go through the same parser as /.control/command. A mounted datastore (given
 * by its mountpoint, or by its directory while a daemon serves it) gets the command through
 * its /.control/command file; an unmounted one is opened and changed directly.
 */
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { formatCommand, parseTokens } from '../fs/command.js';
import { runCommand } from '../fs/commands.js';
import { Filesystem } from '../fs/filesystem.js';
import type { Logger } from './log.js';
import { isMountpoint, mountpointOfPid } from './mount.js';
import { lockHolder, openDatastore, StoreOptions, takeLock } from './store.js';


/** Progress on stderr: a rewritten line on a terminal, a line per tenth otherwise. */
export function progressPrinter(what: string, unit = 'blocks'): (done: number, total: number) => void {
  let lastTenth = -1;
  return (done, total) => {
    const pct = total ? Math.floor((done / total) * 100) : 100;
    if (process.stderr.isTTY) { process.stderr.write(`\r${what}: ${done}/${total} ${unit} (${pct}%)${done === total ? '\n' : ''}`); return; }
    if (Math.floor(pct / 10) === lastTenth) return;
    lastTenth = Math.floor(pct / 10);
    process.stderr.write(`${what}: ${done}/${total} ${unit} (${pct}%)\n`);
  };
}

/** The mountpoint serving a datastore given by its mountpoint or its directory; null when it is not mounted. */
export async function mountOf(where: string): Promise<string | null> {
  if (await isMountpoint(where)) return where;
  const pid = await lockHolder(where);
  if (pid === null) return null;
  const mnt = await mountpointOfPid(pid);
  if (!mnt) throw new VdfsError('BUSY', `datastore ${where} is in use by process ${pid}, which serves no mountpoint`);
  return mnt;
}

/** Commands that run long enough to show progress, and what their progress counts. */
const LONG_COMMANDS: Partial<Record<string, string>> = { restore: 'blocks', scrub: 'segments', rebuild: 'fragments' };

/** Runs one command; returns its result. `store` opens an unmounted datastore (its key file). */
export async function control(where: string, tokens: string[], log: Logger, store: StoreOptions = {}): Promise<Record<string, unknown>> {
  const cmd = parseTokens(tokens);
  const unit = LONG_COMMANDS[cmd.verb];
  const progress = unit ? progressPrinter(cmd.verb, unit) : undefined;
  const mnt = await mountOf(where);
  if (mnt) return viaMount(mnt, formatCommand(tokens), cmd.verb, progress);
  const unlock = await takeLock(where);
  try {
    const ds = await openDatastore(where, store);
    const fs = new Filesystem(ds, () => {}, { log });
    try {
      await fs.recover(); // what the oplog holds comes before the command's changes
      const r = await runCommand(fs, cmd, progress);
      await fs.close();
      return r;
    } finally { await ds.close(); }
  } finally { await unlock(); }
}

async function readAll(fh: FileHandle): Promise<string> {
  const chunks: Buffer[] = [];
  for (let at = 0; ;) {
    const b = Buffer.alloc(LIMITS.COMMAND_REPLY_MAX_BYTES);
    const { bytesRead } = await fh.read(b, 0, b.length, at);
    if (!bytesRead) break;
    chunks.push(b.subarray(0, bytesRead));
    at += bytesRead;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function viaMount(mnt: string, line: string, verb: string, progress?: (d: number, t: number) => void): Promise<Record<string, unknown>> {
  // O_DIRECT: the reply must come from the daemon, not from the page cache holding what we wrote.
  const fh = await open(join(mnt, '.control/command'), constants.O_RDWR | constants.O_DIRECT);
  const poll = progress && setInterval(() => {
    readFile(join(mnt, '.control/status'), 'utf8').then((s) => {
      const op = (JSON.parse(s) as { operations?: { op: string; done: number; total: number }[] }).operations?.find((o) => o.op === verb);
      if (op) progress(op.done, op.total);
    }).catch(() => {}); // progress is best effort: an unreadable status skips one update
  }, LIMITS.PROGRESS_POLL_MS);
  try {
    await fh.write(line + '\n', 0);
    const reply = (await readAll(fh)).trim().split('\n').pop() ?? '{}';
    return JSON.parse(reply) as Record<string, unknown>;
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    if (!errno?.startsWith('E')) throw e;
    // The daemon records why it refused (last-error) whatever the errno: EINVAL, or EIO/EROFS/ENOSPC from the datastore.
    const why = (await readFile(join(mnt, '.control/last-error'), 'utf8').catch(() => '')).trim();
    throw new VdfsError(errno === 'EINVAL' ? 'INVALID' : 'IO', why.replace(/^\S+ /, '') || `command refused (${errno})`);
  } finally {
    if (poll) clearInterval(poll);
    await fh.close();
  }
}
