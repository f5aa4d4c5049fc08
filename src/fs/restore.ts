/**
 * Incremental restore of a file to one of its snapshots. First a common snapshot of the present
 * is taken (so nothing is lost and newer snapshots stay); then the two block maps are diffed,
 * skipping every subtree they share (snap/diff.ts), and only the differing blocks are written
 * into the live file, in batches of RESTORE_BATCH_BYTES read ahead and then applied under the
 * file's lock. The live file then descends from the restored snapshot in the snapshot tree.
 */
import { framedBuffer } from '../codec/record.js';
import { fail } from '../errors.js';
import { presentPtrs } from '../format/map-value.js';
import { LIMITS } from '../limits.js';
import { diffMaps, MapDiff } from '../snap/diff.js';
import { mapTreeId } from '../txn/datastore.js';
import { truncateData, valueContent } from './data.js';
import type { Filesystem } from './filesystem.js';
import type { Vnode } from './vnode.js';

export interface RestoreReport {
  file: string; snapshot: string; commonSnapshot: string;
  blocksCompared: number; blocksMoved: number; bytesMoved: number; nodesRead: number; ms: number;
}

export type Progress = (done: number, total: number) => void;

/** A name for the common snapshot that the file does not use yet. */
async function commonName(fs: Filesystem, v: Vnode): Promise<string> {
  const { snaps } = await fs.ds.catalog.of(v.ino);
  const used = new Set(snaps.map((s) => s.name));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (let n = 0; ; n++) { const name = `before-restore-${stamp}${n ? '-' + n : ''}`; if (!used.has(name)) return name; }
}

export async function restoreFile(fs: Filesystem, path: string, name: string, progress: Progress = () => {}): Promise<RestoreReport> {
  const t0 = performance.now();
  const v = await fs.resolve(path);
  if (!v.isFile) fail('INVALID', `${path} is not a file`);
  const target = await fs.ds.catalog.find(v.ino, name);
  if (!target) fail('NOT_FOUND', `${path} has no snapshot named ${name}`);
  // The vnode stays cached (a handle), the target cannot be deleted, and one restore runs per file.
  const releases = [fs.snapshots.beginRestore(v), fs.snapshots.hold(target!)];
  const pin = fs.addHandle(v);
  try {
    const common = await commonName(fs, v);
    await fs.snapshots.create(path, common);
    const c = await fs.ds.catalog.find(v.ino, common);
    if (!c) fail('NOT_FOUND', `${path} was removed during the restore`);
    releases.push(fs.snapshots.hold(c!));
    const diff = await diffMaps(fs.ds.loader, mapTreeId(v.ino), c!.mapRoot, target!.mapRoot);
    const moved = await apply(fs, v, diff, target!.size, progress);
    await fs.snapshots.setLiveParent(v, target!.id);
    return report(path, name, common, diff, moved, t0);
  } finally {
    fs.release(pin);
    for (const r of releases) r();
  }
}

function report(path: string, name: string, common: string, diff: MapDiff, moved: { blocks: number; bytes: number }, t0: number): RestoreReport {
  return {
    file: path, snapshot: name, commonSnapshot: common, blocksCompared: diff.compared,
    blocksMoved: moved.blocks, bytesMoved: moved.bytes, nodesRead: diff.nodesRead, ms: Math.round(performance.now() - t0),
  };
}

/** Writes the snapshot's version of every differing block into the live file, then its size. */
async function apply(fs: Filesystem, v: Vnode, diff: MapDiff, size: number, progress: Progress): Promise<{ blocks: number; bytes: number }> {
  const bs = fs.ds.blockSize, keep = Math.ceil(size / bs);
  const todo = diff.changes.filter((c) => c.lbn < keep);
  const file = fs.txnOf(v);
  let done = 0, bytes = 0;
  progress(0, todo.length);
  await v.lock.run(() => {
    fs.journal.gap(); // the oplog does not carry a restore: fsyncs commit until one covers it
    return v.attrs.size > size ? truncateData(fs.ds, v, size, fs.dirtyCounter) : undefined;
  });
  for (let at = 0; at < todo.length;) {
    const batch = todo.slice(at, at + Math.max(1, Math.floor(LIMITS.RESTORE_BATCH_BYTES / bs)));
    at += batch.length;
    const blocks = await Promise.all(batch.map(async ({ lbn, to }) => {
      for (const p of to ? presentPtrs(to) : []) bytes += p.len;
      // A copy: the block joins the open txg, where later writes change it in place, and the
      // record read may be the one the read-ahead cache holds for other readers. Framed, as the
      // write path's blocks are, so the commit encodes it without copying it again.
      const b = to && await valueContent(fs.ds, v.ino, lbn, to);
      const data = framedBuffer(bs, !b);
      if (b) data.fill(0, b.copy(data));
      return { lbn, data };
    }));
    await fs.txg.admit();
    await v.lock.run(() => { for (const b of blocks) file.addBlock(b.lbn, b.data); v.touch(); });
    done += batch.length;
    progress(done, todo.length);
  }
  await v.lock.run(() => { v.attrs.size = size; v.touch(); });
  await fs.txg.sync();
  return { blocks: todo.length, bytes };
}
