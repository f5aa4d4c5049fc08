// The control command parser and /.control/command in process: quoting round trip, 10,000
// seeded malformed commands refused with INVALID and changing nothing, concurrent duplicates.
import t from 'tap';
import { formatCommand, parseCommand, tokenize } from '../../src/fs/command.js';
import type { Filesystem } from '../../src/fs/filesystem.js';
import { badCommand } from '../helpers/bad-commands.js';
import { contentOf, memDatastore, ROOT, rng, seedFromEnv } from '../helpers/mem.js';

const ROUNDS = Number(process.env.BAD_COMMANDS ?? 10_000);

t.test('tokens survive formatCommand → tokenize', async (t) => {
  const rand = rng(7);
  const chars = 'ab /"\\\tç.-_';
  for (let i = 0; i < 2000; i++) {
    const toks = Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
      Array.from({ length: Math.floor(rand() * 6) }, () => chars[Math.floor(rand() * chars.length)]).join(''));
    t.same(tokenize(formatCommand(toks)), toks, JSON.stringify(toks));
    if (t.counts.fail) break;
  }
  t.same(parseCommand(Buffer.from('snapshot create "vm 1/disk0.raw" nightly\n')), { verb: 'snapshot create', path: '/vm 1/disk0.raw', name: 'nightly' });
});

async function state(fs: Filesystem): Promise<string> {
  return JSON.stringify(await fs.snapshots.list('/')) + (await contentOf(fs));
}

async function send(fs: Filesystem, line: Buffer | string): Promise<void> {
  const fh = await fs.open('/.control/command', true);
  try { await fs.write(fh, 0, Buffer.from(line)); } finally { fs.release(fh); }
}

t.test(`${ROUNDS} malformed commands: INVALID each, nothing changes`, async (t) => {
  const seed = seedFromEnv();
  const rand = rng(seed);
  const { fs } = await memDatastore();
  await fs.mkdir('/vm', 0o755, ROOT);
  for (const f of ['/vm/a', '/vm/b']) {
    const fh = fs.addHandle(await fs.create(f, 0o644, ROOT));
    await fs.write(fh, 0, Buffer.alloc(20000, 7));
    fs.release(fh);
  }
  await send(fs, 'snapshot create /vm s1\n');
  await send(fs, 'snapshot create /vm/a s2\n');
  const before = await state(fs);
  const ctx = { files: ['/vm/a', '/vm/b', 'vm/a', '/vm'], snaps: [['/vm/a', 's1'], ['vm/a', 's2'], ['/vm', 's1']] as [string, string][] };
  const kinds = new Map<string, number>();
  let wrong = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const { kind, bytes } = badCommand(rand, ctx);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    const err = await send(fs, bytes).then(() => null, (e: { code?: string }) => e);
    if (err?.code !== 'INVALID') {
      if (wrong++ < 5) t.fail(`seed ${seed} #${i} (${kind}) ${JSON.stringify(bytes.toString().slice(0, 80))}: ${err ? err.code : 'accepted'}`);
    }
  }
  t.equal(wrong, 0, `every command refused with INVALID (seed ${seed})`);
  t.match(fs.control.lastError, /\S/, 'last-error holds a reason');
  t.equal(await state(fs), before, 'state unchanged');
  t.comment(`kinds: ${JSON.stringify(Object.fromEntries(kinds))}`);
});

t.test('concurrent create (and delete) of one name: exactly one succeeds', async (t) => {
  const { fs } = await memDatastore();
  fs.release(fs.addHandle(await fs.create('/f', 0o644, ROOT)));
  for (let i = 0; i < 20; i++) {
    const creates = await Promise.allSettled([send(fs, 'snapshot create /f x\n'), send(fs, 'snapshot create /f x\n'), send(fs, 'snapshot create f x\n')]);
    t.equal(creates.filter((r) => r.status === 'fulfilled').length, 1, `round ${i}: one create`);
    const deletes = await Promise.allSettled([send(fs, 'snapshot delete /f x\n'), send(fs, 'snapshot delete /f x\n')]);
    t.equal(deletes.filter((r) => r.status === 'fulfilled').length, 1, `round ${i}: one delete`);
    t.same(await fs.snapshots.list('/f'), []);
  }
});
