/** The vdfs command line. Errors print one line `vdfs: reason` and exit non-zero. */
import { Command, InvalidArgumentError } from 'commander';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Filesystem } from '../fs/filesystem.js';
import { makeLogger } from './log.js';
import { inspect } from './inspect.js';
import { mountDetached, mountForeground, umount } from './mount.js';
import { checkBinding, type Binding } from '../fuse/mount.js';
import { mkfsDatastore, openDatastore, openOptions, StoreOptions, takeLock } from './store.js';
import { checkCompress, checkLevel } from '../fs/command.js';
import { writeKeyFile } from './keygen.js';
import { COMPRESS_NAMES, LEVEL_MAX, LEVEL_MIN } from '../codec/compress.js';
import { LIMITS } from '../limits.js';
import { statusOf } from '../fs/status.js';
import { control, mountOf } from './control.js';

const bin = join(fileURLToPath(new URL('.', import.meta.url)), '../../../bin/vdfs.js');
const sizeArg = (v: string): number => {
  const m = /^(\d+)([kKmM]?)$/.exec(v);
  if (!m) throw new InvalidArgumentError('a size like 32K or 4M');
  return Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1);
};
const print = (o: unknown): boolean => process.stdout.write(JSON.stringify(o, null, 2) + '\n');
/** The command parser's checks (fs/command.ts), as commander argument errors. */
const asArg = <T>(check: (v: string) => T) => (v: string): T => {
  try { return check(v); } catch (e) { throw new InvalidArgumentError((e as Error).message); }
};
const compressArg = asArg((v) => { checkCompress(v); return v; });
const levelArg = asArg(checkLevel);
const countArg = (v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) > LIMITS.CODEC_WORKERS_MAX) throw new InvalidArgumentError(`0..${LIMITS.CODEC_WORKERS_MAX}`);
  return Number(v);
};
const KEY_FILE = ['--key-file <file>', 'the datastore key: 32 raw bytes or 64 hex digits (vdfs keygen makes one); used when the datastore is not mounted'] as const;

const program = new Command('vdfs')
  .description('A datastore for virtual-machine disks, served as a FUSE filesystem')
  .version('0.1.0')
  // A usage error is one line like every other error (`vdfs --help` shows the usage).
  .configureOutput({ outputError: (str, write) => write(`vdfs: ${str.replace(/^error: /, '').trim()}\n`) });

const collect = (v: string, acc: string[]): string[] => [...acc, v];

program.command('mkfs').argument('[dir]', 'directory that will hold datastore.vdfs (for a spread layout: its first --target)')
  .description('create a datastore')
  .option('--force', 'replace an existing datastore')
  .option('--layout <layout>', 'single (one datastore file), mirror:N (N copies) or ec:K+M (Reed-Solomon, K data + M parity)', 'single')
  .option('--target <path>', 'a directory, file or block device the layout spreads over (repeat for each)', collect, [] as string[])
  .option('--max-segments <n>', `segments a spread layout's table has room for (default ${LIMITS.SPREAD_MAX_SEGMENTS}, at most ${LIMITS.SPREAD_MAX_SEGMENTS_CAP})`, (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > LIMITS.SPREAD_MAX_SEGMENTS_CAP) throw new InvalidArgumentError(`1..${LIMITS.SPREAD_MAX_SEGMENTS_CAP}`);
    return Number(v);
  })
  .option('--block-size <size>', 'vdisk block size (4K..1M)', sizeArg)
  .option('--segment-size <size>', 'log segment size', sizeArg)
  .option('--compress <codec>', 'compress new blocks: deflate or none', compressArg, 'none')
  .option('--level <n>', `compression level ${LEVEL_MIN} (fastest)..${LEVEL_MAX} (smallest)`, levelArg, LIMITS.COMPRESS_DEFAULT_LEVEL)
  .option('--encrypt', 'encrypt every record with AES-256-GCM (needs --key-file)')
  .option('--key-file <file>', 'the key: 32 raw bytes or 64 hex digits (vdfs keygen makes one); never stored in the datastore')
  .action(async (dirArg: string | undefined, o: { force?: boolean; blockSize?: number; segmentSize?: number; compress: string; level: number; encrypt?: boolean; keyFile?: string; layout: string; target: string[]; maxSegments?: number }) => {
    const targets = [...(dirArg ? [dirArg] : []), ...o.target];
    if (!targets.length) throw new InvalidArgumentError('give the datastore directory, or --target for each target of a spread layout');
    const { key } = await openOptions({ keyFile: o.keyFile });
    const policy = { compress: COMPRESS_NAMES[o.compress], level: o.level, encrypt: !!o.encrypt };
    const ds = await mkfsDatastore(!!o.force, { blockSize: o.blockSize, segmentSize: o.segmentSize, policy, key }, { layout: o.layout, targets, maxSegments: o.maxSegments });
    print({ created: targets[0], layout: ds.layout.name, targets: ds.layout.status().targets.map((t) => t.path), uuid: ds.sb.uuid.toString('hex'), blockSize: ds.sb.blockSize, segmentSize: ds.sb.segmentSize,
      compress: o.compress, level: o.level, encrypt: !!o.encrypt });
    await ds.close();
  });

program.command('keygen').argument('<file>', 'where to write the new key (mode 0600; never overwritten)')
  .description('make a random 256-bit datastore key (64 hex digits)')
  .action((file: string) => writeKeyFile(file));

program.command('mount').argument('<dir>').argument('<mountpoint>')
  .description('serve a datastore at a mountpoint (foreground unless --detach)')
  .option('-d, --detach', 'run in the background; logs go to DIR/vdfs.log')
  .option('--commit-per-write', 'commit every write on its own (slow; only to measure what batching gains)')
  .option('--no-oplog', 'fsync always commits the transaction group (the oplog is not used; to measure what it gains)')
  .option('--key-file <file>', 'the datastore key (needed when it is encrypted; refused for a datastore without one)')
  .option('--codec-workers <n>', `threads that compress and encrypt (default one per core, at most ${LIMITS.CODEC_WORKERS_MAX}; 0 does it on the main thread)`, countArg)
  .option('--fuse <binding>', `kernel (FUSE spoken over /dev/fuse by vdfs itself; needs root) or native (fuse-native, libfuse 2); default kernel for root (or VDFS_FUSE)`, asArg(checkBinding))
  .action(async (dir: string, mnt: string, o: { detach?: boolean; commitPerWrite?: boolean; oplog: boolean; keyFile?: string; codecWorkers?: number; fuse?: Binding }) => {
    const opts = { commitPerWrite: !!o.commitPerWrite, oplog: o.oplog, fuse: o.fuse };
    const store: StoreOptions = { keyFile: o.keyFile, workers: o.codecWorkers };
    if (o.detach) await mountDetached(bin, dir, mnt, opts, store);
    else await mountForeground(dir, mnt, makeLogger(), opts, store);
  });

program.command('umount').argument('<mountpoint>')
  .description('unmount, committing everything first')
  .action((mnt: string) => umount(mnt));

program.command('status').argument('<dir-or-mountpoint>')
  .description('figures of a mounted or unmounted datastore (JSON)')
  .option(...KEY_FILE)
  .action(async (where: string, o: StoreOptions) => {
    const mnt = await mountOf(where);
    if (mnt) { process.stdout.write(await readFile(join(mnt, '.control/status'), 'utf8')); return; }
    const unlock = await takeLock(where); // opening a spread layout may bring a target up to date
    try {
      const ds = await openDatastore(where, o);
      print(statusOf(new Filesystem(ds)));
      await ds.close();
    } finally { await unlock(); }
  });

const WHERE = ['<where>', 'datastore directory or mountpoint (a mounted datastore is asked through its mountpoint)'] as const;
const runControl = async (where: string, tokens: string[], o: StoreOptions): Promise<void> => { print(await control(where, tokens, makeLogger(), o)); };
const opt = (v: string | undefined) => (v === undefined ? [] : [v]);

const snapshot = program.command('snapshot').description('create, delete and list snapshots of a file or of every file under a directory');
snapshot.command('create').argument(...WHERE).argument('<path>', 'file or directory inside the datastore').argument('<name>').option(...KEY_FILE)
  .action((where: string, path: string, name: string, o: StoreOptions) => runControl(where, ['snapshot', 'create', path, name], o));
snapshot.command('delete').argument(...WHERE).argument('<path>').argument('<name>').option(...KEY_FILE)
  .action((where: string, path: string, name: string, o: StoreOptions) => runControl(where, ['snapshot', 'delete', path, name], o));
snapshot.command('list').argument(...WHERE).argument('[path]').option(...KEY_FILE)
  .action((where: string, path: string | undefined, o: StoreOptions) => runControl(where, ['snapshot', 'list', ...opt(path)], o));

program.command('restore').argument(...WHERE).argument('<path>', 'file inside the datastore').argument('<name>', 'snapshot to restore').option(...KEY_FILE)
  .description('restore a file to a snapshot, moving only the blocks that differ (a snapshot of the present is taken first)')
  .action((where: string, path: string, name: string, o: StoreOptions) => runControl(where, ['restore', path, name], o));

program.command('policy').argument(...WHERE)
  .description('show or change the codec policy for new blocks (blocks already stored keep theirs)')
  .option('--compress <codec>', 'deflate or none')
  .option('--level <n>', `compression level ${LEVEL_MIN}..${LEVEL_MAX}`)
  .option('--encrypt', 'encrypt new records (the first time: give --key-file, which becomes the datastore key)')
  .option('--no-encrypt', 'stop encrypting new records (old ones still need the key)')
  .option('--key-file <file>', 'the datastore key (read by the daemon when mounted)')
  .action((where: string, o: { compress?: string; level?: string; encrypt?: boolean; keyFile?: string }) => runControl(where, ['policy',
    ...(o.compress ? [`compress=${o.compress}`] : []), ...(o.level ? [`level=${o.level}`] : []),
    ...(o.encrypt === undefined ? [] : [`encrypt=${o.encrypt ? 'on' : 'off'}`]), ...(o.keyFile ? [`key-file=${resolve(o.keyFile)}`] : [])], { keyFile: o.keyFile, keying: true }));

program.command('verify').argument(...WHERE).argument('[path]').option(...KEY_FILE)
  .description('verify the snapshot metadata of every file (or of one); exits 2 when an alarm is raised')
  .action(async (where: string, path: string | undefined, o: StoreOptions) => {
    const r = await control(where, ['verify', ...opt(path)], makeLogger(), o);
    print(r);
    if ((r as { verified?: { alarms?: unknown[] } }).verified?.alarms?.length) process.exitCode = 2;
  });

program.command('scrub').argument(...WHERE).option(...KEY_FILE)
  .description('read every fragment of a spread layout and repair the bad ones from copies or parity; exits 2 when some could not be')
  .action(async (where: string, o: StoreOptions) => {
    const r = await control(where, ['scrub'], makeLogger(), o);
    print(r);
    if (((r as { layout?: { scrub?: { unrecoverable: number } } }).layout?.scrub?.unrecoverable ?? 0) > 0) process.exitCode = 2;
  });

program.command('rebuild').argument(...WHERE).option(...KEY_FILE)
  .description('re-create, on a replaced (empty) target, every fragment that belonged there')
  .action((where: string, o: StoreOptions) => runControl(where, ['rebuild'], o));

program.command('inspect').argument('<dir>').option(...KEY_FILE)
  .description('debugging view: superblock, commit ring, trees and files (read-only)')
  .action(async (dir: string, o: StoreOptions) => {
    const ds = await openDatastore(dir, o);
    print(await inspect(ds));
    await ds.close();
  });

program.parseAsync().catch((e: unknown) => {
  const why = e instanceof Error ? e.message : String(e);
  process.send?.({ error: why }); // a detached daemon tells its parent why (mount.ts)
  process.stderr.write(`vdfs: ${why}\n`);
  if (process.env.VDFS_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
