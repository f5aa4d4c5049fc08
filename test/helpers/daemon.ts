/**
 * Runs `vdfs mount` as a child process for tests that go through a real FUSE mount, and always
 * cleans up: SIGTERM, then (if the mount hangs) abort through fusectl and a lazy unmount.
 */
import { spawn, execFile, ChildProcess } from 'node:child_process';
import { access, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const run = promisify(execFile);
/** Environment for vdfs children: without the test runner's NODE_OPTIONS hooks (they keep a
 * SIGTERM'd daemon from exiting under tap). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}
/** The project's root (this file runs from dist/test/helpers). */
export const PROJECT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const VDFS = join(PROJECT, 'bin/vdfs.js');
const MOUNT_WAIT_MS = 30_000;
/** Lines of a failed test's daemon log shown. */
const LOG_LINES = 40;

/** Why FUSE tests cannot run here, or null when they can. */
export async function fuseMissing(): Promise<string | null> {
  try { await access('/dev/fuse'); } catch { return 'skipped: /dev/fuse is missing'; }
  try { await run('which', ['fusermount']); } catch { return 'skipped: fusermount is missing (apt-get install fuse)'; }
  return null;
}

/**
 * A fresh datastore and its (not yet started) daemon for a FUSE test file, removed at teardown;
 * null when FUSE is missing, the file then planning no tests and saying why ("skipped").
 */
export async function fuseDaemon(t: Test, prefix?: string, mkfsArgs: (base: string) => Promise<string[]> = async () => []): Promise<Daemon | null> {
  const missing = await fuseMissing();
  if (missing) { t.comment(missing); t.plan(0, missing); return null; }
  const d = await Daemon.fresh(prefix, mkfsArgs);
  t.teardown(async () => {
    if (!t.passing()) await d.showLog();
    await d.remove();
  });
  return d;
}

export interface CliResult { code: number; out: string; err: string }

/** Runs the vdfs CLI; a failure is a result (code, stderr), not an exception. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const r = await run('node', [VDFS, ...args], { timeout: 120_000, env: childEnv(env), maxBuffer: 64 << 20 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

export async function tool(name: string): Promise<boolean> {
  try { await run('which', [name]); return true; } catch { return false; }
}

export async function isMounted(mnt: string): Promise<boolean> {
  const m = await readFile('/proc/mounts', 'utf8');
  return m.split('\n').some((l) => l.split(' ')[1] === mnt);
}

export class Daemon {
  child: ChildProcess | null = null;
  log = '';
  constructor(readonly dir: string, readonly mnt: string) {}

  /** `mkfsArgs(base)`: extra mkfs arguments, given the test's own directory (for key files and such). */
  static async fresh(prefix = 'vdfs-test-', mkfsArgs: (base: string) => Promise<string[]> = async () => []): Promise<Daemon> {
    const base = await mkdtemp(join(process.env.VDFS_TEST_DIR ?? tmpdir(), prefix));
    const d = new Daemon(join(base, 'ds'), join(base, 'mnt'));
    await run('node', [VDFS, 'mkfs', d.dir, ...(await mkfsArgs(base))], { env: childEnv() });
    return d;
  }

  /** Where the daemon writes its pid file (the CLI finds the mountpoint of a datastore there). */
  get runDir(): string { return join(this.dir, '..', 'run'); }

  /** The directory holding the datastore directory, the mountpoint and the daemon's log. */
  get base(): string { return join(this.dir, '..'); }

  /** A path on the mount. */
  at(p: string): string { return join(this.mnt, p); }

  /** Runs a vdfs command that prints JSON; rejects with its stderr when it fails. */
  async vdfs(...args: string[]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed CLI JSON, shape per command
    const r = await cli(args, { VDFS_RUN_DIR: this.runDir });
    if (r.code !== 0) throw new Error(r.err.trim());
    return JSON.parse(r.out);
  }

  async start(extra: string[] = []): Promise<void> {
    // The daemon logs to a file, not a pipe: a pipe would tie this process to its lifetime.
    const logFile = join(this.dir, '..', 'daemon.log');
    const out = await open(logFile, 'a');
    const child = spawn('node', [VDFS, 'mount', this.dir, this.mnt, ...extra], {
      stdio: ['ignore', out.fd, out.fd], env: childEnv({ VDFS_RUN_DIR: this.runDir }),
    });
    await out.close();
    this.child = child;
    const deadline = Date.now() + MOUNT_WAIT_MS;
    while (!(await isMounted(this.mnt))) {
      this.log = await readFile(logFile, 'utf8').catch(() => '');
      if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`not mounted after ${MOUNT_WAIT_MS} ms: ${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Clean stop: SIGTERM makes the daemon commit and unmount. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c) { await clearMount(this.mnt); return; } // a mount made by a command that should have failed
    this.child = null;
    if (c.exitCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      let handle: NodeJS.Timeout | undefined;
      const timer = new Promise((r) => { handle = setTimeout(r, 60_000, 'timeout'); });
      const first = await Promise.race([exited, timer]);
      clearTimeout(handle);
      if (first === 'timeout') { c.kill('SIGKILL'); await exited; }
    }
    await clearMount(this.mnt);
  }

  /** Crash: SIGKILL, then clear the dead mount. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.child = null;
    const exited = new Promise((r) => c.once('exit', r));
    if (c.exitCode === null) { c.kill('SIGKILL'); await exited; }
    await clearMount(this.mnt);
  }

  /** After a failure: the daemon's warnings and errors (its last LOG_LINES), on stderr, before the log is removed. */
  async showLog(): Promise<void> {
    const log = await readFile(join(this.dir, '..', 'daemon.log'), 'utf8').catch(() => '');
    const bad = log.split('\n').filter((l) => /"level":(4|5|6)\d/.test(l)).slice(-LOG_LINES);
    process.stderr.write(`daemon log (${this.dir}): ${bad.length ? '\n' + bad.join('\n') : 'no warnings or errors'}\n`);
  }

  async remove(): Promise<void> {
    await this.stop().catch(() => {});
    await rm(this.base, { recursive: true, force: true });
  }
}

/** Unmounts whatever is left at mnt; a hung connection is aborted through fusectl first. */
export async function clearMount(mnt: string): Promise<void> {
  if (!(await isMounted(mnt))) return;
  try { await run('fusermount', ['-u', mnt]); return; } catch { /* busy or hung */ }
  try {
    if (!(await isMounted('/sys/fs/fuse/connections'))) await run('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections']).catch(() => {});
    // mountinfo field 3 is major:minor; the fusectl connection is named by the minor
    const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === mnt);
    const minor = line?.split(' ')[2]?.split(':')[1];
    if (minor) await writeFile(`/sys/fs/fuse/connections/${minor}/abort`, '1').catch(() => {});
  } catch { /* best effort */ }
  await run('umount', ['-l', mnt]).catch(() => {});
}

export async function sha256(path: string): Promise<string> {
  return (await run('sha256sum', [path], { maxBuffer: 1 << 20 })).stdout.split(' ')[0];
}

export async function exists(p: string): Promise<boolean> { return stat(p).then(() => true, () => false); }
