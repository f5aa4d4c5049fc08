/**
 * A seeded generator of malformed control commands: each one must be refused (EINVAL) and
 * change nothing. `files` are existing files, `snaps` existing "file name" snapshot pairs.
 */
export interface BadCtx { files: string[]; snaps: [string, string][] }

const VERBS = ['snapshot create', 'snapshot delete', 'snapshot list', 'restore', 'verify'];

export function badCommand(rand: () => number, ctx: BadCtx): { kind: string; bytes: Buffer } {
  const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)];
  const file = () => pick(ctx.files);
  const word = () => 'w' + Math.floor(rand() * 36 ** 5).toString(36);
  const kinds: [string, () => string | Buffer][] = [
    ['unknown verb', () => `${pick(['snap', 'Snapshot', 'rm', 'delete', 'restore-all', 'verify!', 'x', '*'])} ${file()} ${word()}`],
    ['unknown sub-verb', () => `snapshot ${pick(['make', 'remove', 'ls', '', 'CREATE', 'rollback'])} ${file()} ${word()}`],
    ['missing arguments', () => pick(['snapshot create', `snapshot create ${file()}`, 'snapshot delete', `snapshot delete ${file()}`, 'restore', `restore ${file()}`, 'snapshot'])],
    ['extra arguments', () => pick([
      `snapshot create ${file()} ${word()} ${word()}`, `snapshot delete ${file()} a b`, `snapshot list / /x`,
      `restore ${file()} a b`, `verify / /`,
    ])],
    ['traversal', () => `${pick(['snapshot create', 'restore', 'snapshot delete'])} ${pick(['../etc/passwd', '/../x', `${file()}/../../..`, '..', 'a/../../b'])} ${word()}`],
    ['hidden tree', () => `snapshot create ${pick(['/.snapshots', '.control/status', '/.snapshots/x/y', '.control'])} ${word()}`],
    ['NUL', () => pick([`snapshot create ${file()} a\0b`, `snapshot create ${file()}\0 n`, `\0`, `verify\0`])],
    ['huge line', () => `snapshot create ${file()} ${'x'.repeat(4097 + Math.floor(rand() * 20000))}`],
    ['long name', () => `snapshot create ${file()} ${'n'.repeat(65 + Math.floor(rand() * 100))}`],
    ['bad name', () => `snapshot create ${file()} ${pick(['a/b', '..', 'x..y', '.', '"a\tb"', '"\u0001"', '""'])}`],
    ['duplicate name', () => (ctx.snaps.length ? `snapshot create ${pick(ctx.snaps).join(' ')}` : `snapshot create /nope ${word()}`)],
    ['delete missing', () => `snapshot delete ${file()} missing-${word()}`],
    ['missing file', () => `${pick(['snapshot create', 'restore', 'snapshot delete'])} /no/such/file-${word()} ${word()}`],
    ['restore missing', () => `restore ${file()} never-${word()}`],
    ['quoting', () => pick([`snapshot create "${file()} n`, `snapshot create ${file()} a"b`, `snapshot create ${file()} "a"b`, `verify \\`])],
    ['two lines', () => `snapshot list\nsnapshot list`],
    ['empty', () => pick(['\n', '   ', '\t\n'])],
    ['bad utf-8', () => Buffer.concat([Buffer.from(`snapshot create ${file()} `), Buffer.from([0xff, 0xfe, 0xc3])])],
  ];
  const [kind, make] = pick(kinds);
  const c = make();
  return { kind, bytes: typeof c === 'string' ? Buffer.from(c.endsWith('\n') ? c : c + '\n') : c };
}
