/** The vdfs command line. Errors print one line `vdfs: reason` and exit non-zero. */
import { Command, InvalidArgumentError } from 'commander';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Filesystem } from '../fs/filesystem.js';
import { makeLogger } from './log.js';
import { inspect } from './inspect.js';
import { mountDetached, mountForeground, umount } from './mount.js';
import { mkfsDatastore, openDatastore } from './store.js';
import { statusOf } from '../fs/status.js';
import { control, mountOf } from './control.js';

const bin = join(fileURLToPath(new URL('.', import.meta.url)), '../../../bin/vdfs.js');
const sizeArg = (v: string): number => {
  const m = /^(\d+)([kKmM]?)$/.exec(v);
  if (!m) throw new InvalidArgumentError('a size like 32K or 4M');
  return Number(m[1]) * (m[2] ? (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : 1);
};
const print = (o: unknown): boolean => process.stdout.write(JSON.stringify(o, null, 2) + '\n');

const program = new Command('vdfs')
  .description('A datastore for virtual-machine disks, served as a FUSE filesystem')
  .version('0.1.0')
  .showHelpAfterError();

program.command('mkfs').argument('<dir>', 'directory that will hold datastore.vdfs')
  .description('create a datastore')
  .option('--force', 'replace an existing datastore')
  .option('--block-size <size>', 'vdisk block size (4K..1M)', sizeArg)
  .option('--segment-size <size>', 'log segment size', sizeArg)
  .action(async (dir: string, o: { force?: boolean; blockSize?: number; segmentSize?: number }) => {
    const ds = await mkfsDatastore(dir, !!o.force, { blockSize: o.blockSize, segmentSize: o.segmentSize });
    print({ created: join(dir, 'datastore.vdfs'), uuid: ds.sb.uuid.toString('hex'), blockSize: ds.sb.blockSize, segmentSize: ds.sb.segmentSize });
    await ds.close();
  });

program.command('mount').argument('<dir>').argument('<mountpoint>')
  .description('serve a datastore at a mountpoint (foreground unless --detach)')
  .option('-d, --detach', 'run in the background; logs go to DIR/vdfs.log')
  .option('--commit-per-write', 'commit every write on its own (slow; only to measure what batching gains)')
  .action(async (dir: string, mnt: string, o: { detach?: boolean; commitPerWrite?: boolean }) => {
    const opts = { commitPerWrite: !!o.commitPerWrite };
    if (o.detach) await mountDetached(bin, dir, mnt, opts);
    else await mountForeground(dir, mnt, makeLogger(), opts);
  });

program.command('umount').argument('<mountpoint>')
  .description('unmount, committing everything first')
  .action((mnt: string) => umount(mnt));

program.command('status').argument('<dir-or-mountpoint>')
  .description('figures of a mounted or unmounted datastore (JSON)')
  .action(async (where: string) => {
    const mnt = await mountOf(where);
    if (mnt) { process.stdout.write(await readFile(join(mnt, '.control/status'), 'utf8')); return; }
    const ds = await openDatastore(where);
    print(statusOf(new Filesystem(ds)));
    await ds.close();
  });

const WHERE = ['<where>', 'datastore directory or mountpoint (a mounted datastore is asked through its mountpoint)'] as const;
const runControl = async (where: string, tokens: string[]): Promise<void> => { print(await control(where, tokens, makeLogger())); };

const snapshot = program.command('snapshot').description('create, delete and list snapshots of a file or of every file under a directory');
snapshot.command('create').argument(...WHERE).argument('<path>', 'file or directory inside the datastore').argument('<name>')
  .action((where: string, path: string, name: string) => runControl(where, ['snapshot', 'create', path, name]));
snapshot.command('delete').argument(...WHERE).argument('<path>').argument('<name>')
  .action((where: string, path: string, name: string) => runControl(where, ['snapshot', 'delete', path, name]));
snapshot.command('list').argument(...WHERE).argument('[path]')
  .action((where: string, path?: string) => runControl(where, ['snapshot', 'list', ...(path === undefined ? [] : [path])]));

program.command('restore').argument(...WHERE).argument('<path>', 'file inside the datastore').argument('<name>', 'snapshot to restore')
  .description('restore a file to a snapshot, moving only the blocks that differ (a snapshot of the present is taken first)')
  .action((where: string, path: string, name: string) => runControl(where, ['restore', path, name]));

program.command('verify').argument(...WHERE).argument('[path]')
  .description('verify the snapshot metadata of every file (or of one); exits 2 when an alarm is raised')
  .action(async (where: string, path?: string) => {
    const r = await control(where, ['verify', ...(path === undefined ? [] : [path])], makeLogger());
    print(r);
    if ((r as { verified?: { alarms?: unknown[] } }).verified?.alarms?.length) process.exitCode = 2;
  });

program.command('inspect').argument('<dir>')
  .description('debugging view: superblock, commit ring, trees and files (read-only)')
  .action(async (dir: string) => {
    const ds = await openDatastore(dir);
    print(await inspect(ds));
    await ds.close();
  });

program.parseAsync().catch((e: unknown) => {
  process.stderr.write(`vdfs: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env.VDFS_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
