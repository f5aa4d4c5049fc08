/**
 * The hidden /.snapshots tree, read-only: it mirrors the namespace's directories; each file
 * that has snapshots appears as a directory holding one read-only file per snapshot, whose
 * content is the file's content at that snapshot. /.snapshots/vm1/disk0.raw/nightly is the
 * snapshot "nightly" of /vm1/disk0.raw.
 */
import { fail, isVdfsError } from '../errors.js';
import { CowTree } from '../meta/btree.js';
import { S_IFDIR, S_IFREG } from '../meta/inode.js';
import { mapTreeId } from '../txn/datastore.js';
import { SnapInfo, snapKey } from '../snap/record.js';
import { xxh64 } from '../codec/checksum.js';
import type { Filesystem, Stat } from './filesystem.js';
import { HiddenTree, hiddenStat, SNAPSHOTS_DIR } from './hidden.js';
import { FhTable } from './handles.js';
import { LIMITS } from '../limits.js';
import { mappedBlock, readBlocks } from './data.js';
import { splitPath } from './names.js';
import type { Vnode } from './vnode.js';

/** Inode numbers of /.snapshots entries: directories mirror the file's at 2^40 up; snapshot files hash to 2^52 up. */
const DIR_INO_BASE = 2 ** 40, SNAP_INO_BASE = 2 ** 52;

type Place =
  | { kind: 'dir'; v: Vnode }           // a namespace directory, mirrored
  | { kind: 'file'; v: Vnode }          // a file: a directory of its snapshots
  | { kind: 'snap'; v: Vnode; s: SnapInfo };

interface OpenSnap { s: SnapInfo; map: CowTree; release: () => void }

export class SnapView implements HiddenTree {
  readonly name = SNAPSHOTS_DIR;
  readonly fhBase = 2 * LIMITS.FH_SPAN;
  private handles = new FhTable<OpenSnap>(this.fhBase, this.fhBase + LIMITS.FH_SPAN, 'snapshot');
  constructor(private fs: Filesystem) {}

  private async place(path: string): Promise<Place> {
    const parts = splitPath(path).slice(1);
    const inner = '/' + parts.join('/');
    const v = await this.fs.resolve(inner).catch((e: unknown) => { if (isVdfsError(e, 'NOT_FOUND') || isVdfsError(e, 'NOT_DIR')) return null; throw e; });
    if (v?.isDir) return { kind: 'dir', v };
    if (v?.isFile) return { kind: 'file', v };
    if (v || parts.length < 2) fail('NOT_FOUND', `${path}: no such snapshot`);
    const file = await this.fs.resolve('/' + parts.slice(0, -1).join('/'));
    const s = file.isFile ? await this.fs.ds.catalog.find(file.ino, parts[parts.length - 1]) : undefined;
    if (!s) fail('NOT_FOUND', `${path}: no such snapshot`);
    return { kind: 'snap', v: file, s: s! };
  }

  private statOf(p: Place): Stat {
    if (p.kind === 'snap') return hiddenStat(this.snapIno(p.s), S_IFREG | 0o444, p.s.size, p.s.created);
    return hiddenStat(DIR_INO_BASE + Number(p.v.ino), S_IFDIR | 0o555, 0, p.v.attrs.mtime, 2);
  }

  async stat(path: string): Promise<Stat> { return this.statOf(await this.place(path)); }

  /** A snapshot file's inode number: a 48-bit hash of (file, id) above the other ranges — stable, and kept nowhere. */
  private snapIno(s: SnapInfo): number {
    return SNAP_INO_BASE + Number(xxh64(snapKey(s.ino, s.id)) & 0xffff_ffff_ffffn);
  }

  async readdir(path: string): Promise<{ names: string[]; stats: Stat[] }> {
    const p = await this.place(path);
    if (p.kind === 'snap') fail('NOT_DIR', `${path} is not a directory`);
    const names: string[] = [], stats: Stat[] = [];
    if (p.kind === 'file') {
      for (const s of (await this.fs.ds.catalog.of(p.v.ino)).snaps) { names.push(s.name); stats.push(this.statOf({ kind: 'snap', v: p.v, s })); }
      return { names, stats };
    }
    for await (const e of this.fs.entries(p.v)) {
      const v = await this.fs.vnode(e.ino);
      if (v.isFile && !(await this.fs.ds.catalog.of(v.ino)).snaps.length) continue;
      if (!v.isFile && !v.isDir) continue;
      names.push(e.name);
      stats.push(this.statOf({ kind: v.isDir ? 'dir' : 'file', v }));
    }
    return { names, stats };
  }

  async open(path: string, writable: boolean): Promise<number> {
    const p = await this.place(path);
    if (p.kind !== 'snap') fail('IS_DIR', `${path} is a directory`);
    if (writable) fail('READ_ONLY', `${path} is a snapshot; snapshots are read-only`);
    const s = (p as { s: SnapInfo }).s;
    return this.handles.add({ s, map: new CowTree(mapTreeId(s.ino), this.fs.ds.loader, s.mapRoot), release: this.fs.snapshots.hold(s) });
  }

  async read(fh: number, off: number, len: number): Promise<Buffer> {
    const { s, map } = this.handles.get(fh);
    return readBlocks(this.fs.ds.blockSize, s.size, off, len, (lbn, want) => mappedBlock(this.fs.ds, s.ino, map, map.root, lbn, want));
  }

  async write(): Promise<void> { fail('READ_ONLY', 'snapshots are read-only'); }
  truncate(path: string): void { fail('READ_ONLY', `${path} is read-only`); }

  release(fh: number): void { this.handles.take(fh)?.release(); }
}
