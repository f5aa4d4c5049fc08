/**
 * Running a parsed control command (fs/command.ts) on a filesystem. The same function serves
 * /.control/command and the `vdfs` subcommands run directly on an unmounted datastore.
 */
import { Verifier, VerifyReport } from '../verify/verify.js';
import type { Command, PolicyChange } from './command.js';
import { readKeyFile } from '../codec/seal.js';
import { fail } from '../errors.js';
import { compressName } from '../codec/compress.js';
import type { Filesystem } from './filesystem.js';
import { restoreFile, Progress } from './restore.js';

type CommandResult = Record<string, unknown>;

export async function runCommand(fs: Filesystem, c: Command, progress?: Progress): Promise<CommandResult> {
  switch (c.verb) {
    case 'snapshot create': return { created: c.name, ...(await fs.snapshots.create(c.path, c.name)) };
    case 'snapshot delete': return { deleted: c.name, ...(await fs.snapshots.delete(c.path, c.name)) };
    case 'snapshot list': return { snapshots: await fs.snapshots.list(c.path) };
    case 'restore': return { restored: await fs.operation('restore', c.path, (p) => restoreFile(fs, c.path, c.name, tee(p, progress))) };
    case 'verify': return { verified: await verify(fs, c.path) };
    case 'policy': return { policy: await policy(fs, c.change) };
    case 'scrub': return { layout: await fs.operation('scrub', '/', async (p) => { await fs.ds.layout.scrub(tee(p, progress)); return fs.ds.layout.status(); }) };
    case 'rebuild': return await fs.operation('rebuild', '/', async (p) => ({ fragments: await fs.ds.layout.rebuild(tee(p, progress)), layout: fs.ds.layout.status() }));
  }
}

/** Progress to the operation (status) and to the CLI's printer when run unmounted. */
const tee = (a: Progress, b?: Progress): Progress => (d, t) => { a(d, t); b?.(d, t); };

/** Shows the codec policy, or changes it (between commits: a commit encodes under one policy). */
export async function policy(fs: Filesystem, change: PolicyChange): Promise<Record<string, unknown>> {
  const ds = fs.ds;
  const { keyFile, ...p } = change;
  if (Object.keys(p).length) {
    const mnt = fs.opts.mountpoint;
    if (keyFile && mnt && (keyFile + '/').startsWith(mnt.replace(/\/$/, '') + '/')) fail('INVALID', `key-file ${keyFile} is on this mount; the daemon does not read its own mount`);
    const key = keyFile ? await readKeyFile(keyFile) : undefined;
    // The oplog's blocks are sealed once a key is held: none is written across the change, and
    // everything logged before it is committed first (a replay under the new key expects seals).
    await fs.journal.paused(async () => {
      await fs.txg.sync();
      await fs.txg.exclusive(() => ds.setPolicy({ ...ds.sb.policy, ...p }, key));
    });
    fs.log.info({ policy: policyView(fs) }, 'codec policy changed');
  }
  return policyView(fs);
}

export function policyView(fs: Filesystem): Record<string, unknown> {
  const { sb } = fs.ds;
  return { compress: compressName(sb.policy.compress), level: sb.policy.level, encrypt: sb.policy.encrypt, keySet: !!sb.keyCheck, keyHeld: !!fs.ds.codec.ring };
}

/**
 * Verifies the snapshot metadata of one file (or all); each file while no commit runs (commits
 * go on between files). Alarms go to status and the log.
 */
export async function verify(fs: Filesystem, path: string | null): Promise<VerifyReport> {
  const t0 = performance.now();
  const files = await fs.snapshots.filesAt(path ?? '/');
  const v = new Verifier(fs.ds);
  await fs.operation('verify', path ?? '/', async (progress) => {
    for (let i = 0; i < files.length; i++) {
      await fs.txg.exclusive(() => v.file(files[i].v.ino, files[i].path));
      progress(i + 1, files.length);
    }
  });
  v.report.ms = Math.round(performance.now() - t0);
  for (const a of v.report.alarms) fs.raiseAlarm(a);
  return v.report;
}
