// Crash at process level: a child writes seeded chunks through the mount and fsyncs, journaling
// every acknowledged write outside the datastore; the daemon is killed with SIGKILL at a random
// point; after a remount every acknowledged chunk must be there and every other chunk must hold
// its old content or that of a write issued after it. CRASH_ROUNDS sets the rounds (default 30).
// The fsyncs go to the oplog, so remounts replay it (counted from /.control/status).
import t from 'tap';
import { spawn } from 'node:child_process';
import { open, readFile, rm, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv, Daemon, fuseDaemon } from '../helpers/daemon.js';
import { CHUNK, chunkSeq } from '../helpers/crash-chunks.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 30);
const CHUNKS = 2048; // an 8 MiB vdisk
const WRITER = resolve(fileURLToPath(new URL('.', import.meta.url)), '../helpers/crash-writer.js');

const d = await fuseDaemon(t, 'vdfs-crash-');
if (d) {
  const seed = seedFromEnv();
  t.comment(`seed ${seed}, ${ROUNDS} rounds (set SEED, CRASH_ROUNDS to change)`);
  const vdisk = join(d.mnt, 'crash.raw');

  t.test(`${ROUNDS} rounds of SIGKILL under fsync'd writes lose nothing acknowledged`, async (t) => {
    const r = rng(seed);
    await d.start();
    const h = await open(vdisk, 'w');
    await h.truncate(CHUNKS * CHUNK);
    await h.sync();
    await h.close();
    let held = new Array<number>(CHUNKS).fill(0); // the write each chunk holds, as verified
    const totals = { writes: 0, acked: 0, unacked: 0, losses: 0, newerUnacked: 0, replayed: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      const journal = join(d.dir, '..', `journal-${round}`);
      const killAfter = 10 + Math.floor(r() * 600);
      await runAndKill(d, [vdisk, journal, String(seed), String(round), String(CHUNKS)], killAfter);
      await d.start(); // recovery
      totals.replayed += JSON.parse(await readFile(join(d.mnt, '.control/status'), 'utf8')).oplog.replayed;
      const content = await readFile(vdisk);
      t.equal(content.length, CHUNKS * CHUNK, `round ${round}: size kept`);
      const { next, stats, problems } = check(seed, held, content, await readFile(journal, 'utf8'));
      for (const p of problems) t.fail(`round ${round} (seed ${seed}): ${p}`);
      totals.writes += stats.writes; totals.acked += stats.acked; totals.unacked += stats.unacked;
      totals.losses += problems.length; totals.newerUnacked += stats.newerUnacked;
      held = next;
      if (problems.length) {
        // keep the evidence past the teardown that removes the datastore
        const keep = join(tmpdir(), `vdfs-crash-evidence-${seed}-${round}`);
        await cp(d.base, keep, { recursive: true }).catch(() => {});
        t.comment(`journal, datastore and daemon.log of round ${round} kept in ${keep}`);
      }
      await rm(journal);
    }
    await d.stop();
    t.equal(totals.losses, 0, `0 losses: ${JSON.stringify(totals)}`);
    t.ok(totals.acked > 0 && totals.unacked > 0, 'kills landed with acknowledged and unacknowledged writes');
    t.ok(totals.replayed > 0, `remounts replayed ${totals.replayed} oplog entries`);
  });
}

/** Starts the writer, SIGKILLs the daemon once the writer has done `after` writes, and waits for both. */
async function runAndKill(d: Daemon, args: string[], after: number): Promise<void> {
  const w = spawn('node', [WRITER, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: childEnv() });
  const exited = new Promise<void>((res) => w.once('exit', () => res()));
  await new Promise<void>((res) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      if (lines.some((l) => Number(l.split(' ')[1]) >= after)) { w.stdout!.off('data', onData); w.stdout!.resume(); res(); }
    };
    w.stdout!.on('data', onData);
    void exited.then(res);
  });
  await d.kill();
  await exited;
}

interface RoundStats { writes: number; acked: number; unacked: number; newerUnacked: number }

/** Checks each chunk against the journal; returns what each chunk now holds. */
function check(seed: number, held: number[], content: Buffer, journal: string): { next: number[]; stats: RoundStats; problems: string[] } {
  const writesTo = new Map<number, number[]>(); // chunk -> seqs in issue order
  const acked = new Set<number>();
  let writes = 0;
  for (const line of journal.split('\n')) {
    const [kind, ...rest] = line.split(' ');
    if (kind === 'I') {
      writes++;
      for (const c of rest[1].split(',').map(Number)) (writesTo.get(c) ?? writesTo.set(c, []).get(c)!).push(Number(rest[0]));
    } else if (kind === 'A') for (const s of rest) acked.add(Number(s));
  }
  const next = held.slice();
  const problems: string[] = [];
  let newerUnacked = 0;
  for (let c = 0; c < held.length; c++) {
    const got = chunkSeq(seed, content.subarray(c * CHUNK, (c + 1) * CHUNK), c);
    next[c] = got;
    const seqs = writesTo.get(c) ?? [];
    let last = -1;
    seqs.forEach((s, i) => { if (acked.has(s)) last = i; });
    const allowed = last >= 0 ? seqs.slice(last) : [held[c], ...seqs];
    if (!allowed.includes(got)) {
      problems.push(`chunk ${c} holds ${got === -1 ? 'garbage' : `write ${got}`}; allowed ${allowed.join(',')}`);
    } else if (got !== allowed[0]) newerUnacked++;
  }
  return { next, stats: { writes, acked: acked.size, unacked: writes - acked.size, newerUnacked }, problems };
}
