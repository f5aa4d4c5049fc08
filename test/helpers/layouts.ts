/** Test helpers: every layout over in-memory targets that tests can fail, remove and replace. */
import { SingleLayout, type Layout } from '../../src/backing/layout.js';
import { SpreadLayout, parseSpread, type TargetSource } from '../../src/backing/spread.js';
import { MemTarget } from '../../src/backing/target.js';
import { VdfsError } from '../../src/errors.js';
import { initChecksum } from '../../src/codec/checksum.js';
import { Datastore } from '../../src/txn/datastore.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { ROOT } from './mem.js';

/** The layouts the conformance suite runs against: [spec, targets]. */
export const LAYOUTS: [string, number][] = [['single', 1], ['mirror:2', 2], ['mirror:3', 3], ['ec:2+1', 3], ['ec:4+2', 3], ['ec:4+2', 6]];

/** In-memory targets by path; a removed one cannot be opened until put back. */
export class MemSource implements TargetSource {
  readonly targets = new Map<string, MemTarget>();
  readonly removed = new Set<string>();
  async open(path: string, create: boolean): Promise<MemTarget> {
    if (this.removed.has(path)) throw new VdfsError('NO_DATASTORE', `${path} is gone`);
    let t = this.targets.get(path);
    if (create || !t) {
      if (!create) throw new VdfsError('NO_DATASTORE', `no datastore at ${path}`);
      t = new MemTarget();
      this.targets.set(path, t);
    }
    return t;
  }
  async exists(path: string): Promise<boolean> { return !this.removed.has(path); }
  /** Removes a target (as `rm -r` of its directory would): the open handle reports itself gone. */
  remove(path: string): void { this.removed.add(path); const t = this.targets.get(path); if (t) t.gone = true; }
  /** Puts back an empty target at a removed path. */
  replaceEmpty(path: string): void { this.removed.delete(path); this.targets.delete(path); }
  /** Puts back the removed target with its old bytes. */
  restore(path: string): void {
    this.removed.delete(path);
    const old = this.targets.get(path);
    if (old) { const t = new MemTarget(); t.bytes = Buffer.from(old.bytes); this.targets.set(path, t); }
  }
}

export interface Made { layout: Layout; source: MemSource; paths: string[]; reopen(): Promise<Layout> }

/** A layout over memory targets t0..t(n-1); spread layouts check health only when the test calls probe(). */
export async function makeLayout(spec: string, n: number, segmentSize: number): Promise<Made> {
  await initChecksum();
  const source = new MemSource();
  const paths = Array.from({ length: n }, (_, i) => `t${i}`);
  if (spec === 'single') {
    const t = await source.open(paths[0], true);
    return { layout: new SingleLayout(t, segmentSize), source, paths, reopen: async () => new SingleLayout(await source.open(paths[0], false), segmentSize) };
  }
  const s = parseSpread(spec);
  if (!s) throw new Error(`bad spec ${spec}`);
  const layout = await SpreadLayout.mkfs(s, paths, source, segmentSize, 4096, { probe: false });
  return { layout, source, paths, reopen: () => SpreadLayout.open(paths[0], source, { probe: false }) };
}

/** A datastore (4 KiB blocks) and its filesystem on a layout over memory targets. */
export async function layoutDatastore(spec: string, n: number, segmentSize: number): Promise<Made & { ds: Datastore; fs: Filesystem }> {
  const made = await makeLayout(spec, n, segmentSize);
  const ds = await Datastore.mkfs(made.layout, { blockSize: 4096, segmentSize });
  const fs = new Filesystem(ds);
  await fs.recover();
  return { ...made, ds, fs };
}

/** Creates a file, writes `writes` at their offsets, fsyncs; returns what the file must hold. */
export async function writeNew(fs: Filesystem, path: string, writes: [number, Buffer][]): Promise<Buffer> {
  const fh = fs.addHandle(await fs.create(path, 0o644, ROOT));
  let m = Buffer.alloc(0);
  for (const [off, data] of writes) {
    await fs.write(fh, off, data);
    if (off + data.length > m.length) { const g = Buffer.alloc(off + data.length); m.copy(g); m = g; }
    data.copy(m, off);
  }
  fs.release(fh);
  await fs.fsync();
  return m;
}
