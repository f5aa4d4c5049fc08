/** Test helpers: an in-memory datastore and a mounted-less filesystem over it. */
import { createHash } from 'node:crypto';
import { SingleLayout } from '../../src/backing/layout.js';
import { MemTarget } from '../../src/backing/target.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { Filesystem, FsOptions } from '../../src/fs/filesystem.js';
import { Datastore, MkfsOptions, OpenOptions } from '../../src/txn/datastore.js';
import { LIMITS } from '../../src/limits.js';

export const ROOT = { uid: 0, gid: 0 };
export const SMALL = { blockSize: 4096, segmentSize: 64 * 1024 };
/** The sizes a real datastore gets by default. */
export const DEFAULTS = { blockSize: LIMITS.BLOCK_SIZE, segmentSize: LIMITS.SEGMENT_SIZE };
export const MiB = 1024 * 1024;

/** A block's content for (lbn, version): never all zeros, cheap to make and to check. */
export function block(bs: number, lbn: number, version: number): Buffer {
  const b = Buffer.alloc(bs, (lbn * 7 + version * 13) % 251 + 1);
  b.writeUInt32LE(lbn, 0); b.writeUInt32LE(version, 4);
  return b;
}

/** A file's whole content. */
export async function readWhole(fs: Filesystem, path: string): Promise<Buffer> {
  const st = await fs.getattr(path);
  const fh = await fs.open(path, false);
  try { return await fs.read(fh, 0, st.size); } finally { fs.release(fh); }
}

/** sha256 of a file's content, read 8 MiB at a time. */
export async function digest(fs: Filesystem, path: string): Promise<string> {
  const size = (await fs.getattr(path)).size;
  const h = createHash('sha256');
  const fh = await fs.open(path, false);
  try {
    for (let off = 0; off < size; off += 8 * MiB) h.update(await fs.read(fh, off, Math.min(8 * MiB, size - off)));
  } finally { fs.release(fh); }
  return h.digest('hex');
}

export async function memDatastore(opts: MkfsOptions & typeof SMALL = SMALL, fsOpts: FsOptions = {}): Promise<{ target: MemTarget; ds: Datastore; fs: Filesystem }> {
  await initChecksum();
  const target = new MemTarget();
  const ds = await Datastore.mkfs(new SingleLayout(target, opts.segmentSize), opts);
  const fs = new Filesystem(ds, undefined, fsOpts);
  await fs.recover();
  return { target, ds, fs };
}

export async function reopen(target: MemTarget, segmentSize = SMALL.segmentSize, opts: OpenOptions = {}, fsOpts: FsOptions = {}): Promise<{ ds: Datastore; fs: Filesystem }> {
  const ds = await Datastore.open(new SingleLayout(target, segmentSize), opts);
  const fs = new Filesystem(ds, undefined, fsOpts);
  await fs.recover();
  return { ds, fs };
}

/** A small seeded PRNG (mulberry32) for reproducible randomized tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const seedFromEnv = (name = 'SEED'): number => Number(process.env[name] ?? Date.now() % 1000000);

/** data cut at up to maxCuts random places (some parts empty), as the log hands its records to a layout's writeSegv. */
export function splitRandomly(data: Buffer, r: () => number, maxCuts: number): Buffer[] {
  const cuts = Array.from({ length: Math.floor(r() * (maxCuts + 1)) }, () => Math.floor(r() * (data.length + 1))).sort((a, b) => a - b);
  return [0, ...cuts].map((from, i) => data.subarray(from, i < cuts.length ? cuts[i] : data.length));
}

/** A digest of every path, size and content in a filesystem (directories walked, /.control skipped). */
export async function contentOf(fs: Filesystem): Promise<string> {
  const h = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    const { names } = await fs.readdir(dir);
    for (const name of names.filter((n) => n !== '.control').sort()) {
      const p = `${dir === '/' ? '' : dir}/${name}`;
      const st = await fs.getattr(p);
      if ((st.mode & 0o170000) === 0o040000) { h.update(`${p}/;`); await walk(p); continue; }
      const fh = await fs.open(p, false);
      h.update(`${p}:${st.size}:`).update(await fs.read(fh, 0, st.size));
      fs.release(fh);
    }
  };
  await walk('/');
  return h.digest('hex');
}
