// Bad input exits non-zero with a one-line reason and no stack trace.
import t, { Test } from 'tap';
import { mkdtemp, open, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, Daemon, fuseMissing } from '../helpers/daemon.js';

const vdfs = (...args: string[]) => cli(args);

const oneLine = (t: Test, r: { code: number; err: string }, re: RegExp, what: string) => {
  t.not(r.code, 0, `${what}: exits non-zero`);
  t.equal(r.err.trim().split('\n').length, 1, `${what}: one line (${r.err.trim()})`);
  t.match(r.err, re, `${what}: says why`);
  t.notMatch(r.err, /\n\s+at /, `${what}: no stack trace`);
};

const missing = await fuseMissing();
const base = await mkdtemp(join(tmpdir(), 'vdfs-bad-'));
t.teardown(() => rm(base, { recursive: true, force: true }));

t.test('mkfs refuses to replace a datastore without --force', async (t) => {
  const dir = join(base, 'ds1');
  t.equal((await vdfs('mkfs', dir)).code, 0);
  oneLine(t, await vdfs('mkfs', dir), /already holds a datastore.*--force/, 'mkfs twice');
  t.equal((await vdfs('mkfs', '--force', dir)).code, 0, 'with --force it replaces it');
});

t.test('mount refuses bad datastores and busy mountpoints', { skip: missing ?? false }, async (t) => {
  const empty = join(base, 'empty');
  await mkdir(empty);
  oneLine(t, await vdfs('mount', empty, join(base, 'm1')), /no datastore/, 'directory without a datastore');
  const bad = join(base, 'bad');
  await vdfs('mkfs', bad);
  const fh = await open(join(bad, 'datastore.vdfs'), 'r+');
  await fh.write(Buffer.from('garbage!'), 0, 8, 20);                 // inside the first copy
  await fh.write(Buffer.from('garbage!'), 0, 8, 1024 * 1024 - 4096 + 20); // inside the second
  await fh.close();
  oneLine(t, await vdfs('mount', bad, join(base, 'm2')), /superblock/, 'corrupted superblock');
  const d = await Daemon.fresh();
  t.teardown(() => d.remove());
  await d.start();
  const other = join(base, 'other');
  await vdfs('mkfs', other);
  oneLine(t, await vdfs('mount', other, d.mnt), /busy/, 'busy mountpoint');
  oneLine(t, await vdfs('mount', d.dir, join(base, 'm3')), /in use/, 'datastore already mounted');
});

t.test('one corrupted superblock copy is survived', async (t) => {
  const dir = join(base, 'half');
  await vdfs('mkfs', dir);
  const fh = await open(join(dir, 'datastore.vdfs'), 'r+');
  await fh.write(Buffer.from('garbage!'), 0, 8, 20);
  await fh.close();
  const r = await vdfs('inspect', dir);
  t.equal(r.code, 0, r.err);
  t.equal(JSON.parse(r.out).txg, 1);
});
