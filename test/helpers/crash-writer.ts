/**
 * The crash test's writer, a child process: writes self-describing chunks into a vdisk on the
 * mount with a few requests in flight, fsyncs every few writes, and journals outside the mount
 * an intent line before each write and an ack line once an fsync (or an O_DSYNC write) covering
 * it returns. It runs until the mount dies under it.
 *   node crash-writer.js FILE JOURNAL SEED ROUND CHUNKS
 */
import { appendFileSync } from 'node:fs';
import { constants, open } from 'node:fs/promises';
import { CHUNK, makeChunk } from './crash-chunks.js';
import { rng } from './mem.js';

const [file, journal, seedArg, roundArg, chunksArg] = process.argv.slice(2);
const seed = Number(seedArg), round = Number(roundArg), chunks = Number(chunksArg);
const r = rng(seed * 7919 + round);
const IN_FLIGHT = 4, MAX_RUN = 4, SEQ_BASE = round * 1_000_000 + 1;

const plain = await open(file, constants.O_RDWR);
const dsync = await open(file, constants.O_RDWR | constants.O_DSYNC);
const busy = new Set<number>();
let completed: number[] = [];
let next = 0, written = 0;
const syncEvery = 2 + Math.floor(r() * 30);
const log = (line: string) => appendFileSync(journal, line + '\n');

function pickRun(): number[] {
  for (;;) {
    const start = Math.floor(r() * chunks), len = Math.min(1 + Math.floor(r() * MAX_RUN), chunks - start);
    const run = Array.from({ length: len }, (_, i) => start + i);
    if (run.every((c) => !busy.has(c))) return run;
  }
}

async function worker(): Promise<void> {
  for (;;) {
    const seq = SEQ_BASE + next++;
    const run = pickRun();
    const sync = r() < 0.1;
    for (const c of run) busy.add(c);
    log(`I ${seq} ${run.join(',')}`);
    await (sync ? dsync : plain).write(Buffer.concat(run.map((c) => makeChunk(seed, seq, c))), 0, run.length * CHUNK, run[0] * CHUNK);
    for (const c of run) busy.delete(c);
    if (sync) log(`A ${seq}`); else completed.push(seq);
    process.stdout.write(`P ${++written}\n`);
    if (written % syncEvery === 0) {
      const covered = completed;
      completed = [];
      await plain.sync();
      if (covered.length) log(`A ${covered.join(' ')}`);
    }
  }
}

try {
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
} catch (e) {
  log(`E ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  process.exit(0);
}
