/**
 * Snapshot operations of the namespace: create and delete (of a file, or of every file under a
 * directory, in one transaction group), list. A change is checked and queued under the
 * namespace lock, goes into the next transaction group, and the call returns once that group is
 * durable. Names queued and not yet committed are busy, so two concurrent creates (or deletes)
 * of one name cannot both pass their checks.
 */
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { SnapOp } from '../snap/apply.js';
import type { SnapInfo } from '../snap/record.js';
import type { Filesystem } from './filesystem.js';
import { splitPath } from './names.js';
import type { Vnode } from './vnode.js';

export interface SnapFile { path: string; v: Vnode }
export interface SnapListing { path: string; name: string; id: number; parent: string | null; txg: number; created: string; size: number }

export class Snapshots {
  private pending: SnapOp[] = [];
  private busy = new Set<string>();
  /** Readers of a snapshot (open /.snapshots handles, restores), by `${ino}/${id}`: it cannot be deleted meanwhile. */
  private holds = new Map<string, number>();
  private restoring = new Set<bigint>();
  constructor(private fs: Filesystem) {}

  /** Keeps a snapshot from deletion until the returned function is called. */
  hold(s: SnapInfo): () => void {
    const k = `${s.ino}/${s.id}`;
    this.holds.set(k, (this.holds.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.holds.get(k) ?? 1) - 1;
      if (n > 0) this.holds.set(k, n); else this.holds.delete(k);
    };
  }

  /** One restore per file at a time. */
  beginRestore(v: Vnode): () => void {
    if (this.restoring.has(v.ino)) fail('BUSY', 'a restore of this file is under way');
    this.restoring.add(v.ino);
    return () => this.restoring.delete(v.ino);
  }

  hasPending(): boolean { return this.pending.length > 0; }

  /** Moves the queued operations into a freezing transaction group (caller holds the namespace lock). */
  take(): SnapOp[] { const p = this.pending; this.pending = []; return p; }

  /** After their commit: the catalog now shows what the operations did. */
  committed(ops: SnapOp[]): void {
    for (const op of ops) this.busy.delete(`${op.ino}/${op.name}`);
    if (ops.some((op) => op.kind === 'delete')) this.fs.cleaner.reconsider();
  }

  /**
   * The regular files a path names: the file itself, or every file under a directory, each once
   * (a file with several names is listed under the first found).
   */
  async filesAt(path: string, max = Infinity): Promise<SnapFile[]> {
    const top = await this.fs.resolve(path);
    const norm = '/' + splitPath(path).join('/');
    if (top.isFile) return [{ path: norm, v: top }];
    if (!top.isDir) fail('INVALID', `${norm} is neither a file nor a directory`);
    const out: SnapFile[] = [];
    const seen = new Set<bigint>();
    const walk = async (dir: Vnode, at: string): Promise<void> => {
      for await (const e of this.fs.entries(dir)) {
        const v = await this.fs.vnode(e.ino);
        const p = `${at === '/' ? '' : at}/${e.name}`;
        if (v.isFile && !seen.has(v.ino)) { seen.add(v.ino); out.push({ path: p, v }); }
        else if (v.isDir) await walk(v, p);
        if (out.length > max) fail('INVALID', `more than ${max} files under ${norm}`);
      }
    };
    await walk(top, norm);
    return out;
  }

  /** Snapshots every file `path` names under one name, in one transaction group. */
  async create(path: string, name: string): Promise<{ files: string[]; txg: number }> {
    const files = await this.fs.change(async () => {
      const files = await this.filesAt(path, LIMITS.SNAPSHOT_DIR_FILES_MAX);
      if (!files.length) fail('INVALID', `no files under ${path}`);
      for (const f of files) {
        const s = await this.fs.ds.catalog.of(f.v.ino);
        if (s.snaps.some((x) => x.name === name)) fail('EXISTS', `${f.path} already has a snapshot named ${name}`);
        if (this.busy.has(`${f.v.ino}/${name}`)) fail('BUSY', `a snapshot named ${name} of ${f.path} is being changed`);
        if (s.snaps.length >= LIMITS.SNAPSHOTS_PER_FILE) fail('INVALID', `${f.path} has ${LIMITS.SNAPSHOTS_PER_FILE} snapshots already`);
      }
      const created = Date.now();
      for (const f of files) this.queue({ kind: 'create', ino: f.v.ino, name, created });
      return files;
    });
    await this.fs.txg.sync();
    return { files: files.map((f) => f.path), txg: Number(this.fs.ds.txg) };
  }

  /** Deletes the named snapshot of every file `path` names that has one (at least one must). */
  async delete(path: string, name: string): Promise<{ files: string[] }> {
    const files = await this.fs.change(async () => {
      const found: SnapFile[] = [];
      for (const f of await this.filesAt(path, LIMITS.SNAPSHOT_DIR_FILES_MAX)) {
        if (this.busy.has(`${f.v.ino}/${name}`)) fail('BUSY', `the snapshot ${name} of ${f.path} is being changed`);
        const s = await this.fs.ds.catalog.find(f.v.ino, name);
        if (s && this.holds.has(`${s.ino}/${s.id}`)) fail('BUSY', `the snapshot ${name} of ${f.path} is open or being restored from`);
        if (s) found.push(f);
      }
      if (!found.length) fail('NOT_FOUND', `no snapshot named ${name} under ${'/' + splitPath(path).join('/')}`);
      for (const f of found) this.queue({ kind: 'delete', ino: f.v.ino, name });
      return found;
    });
    await this.fs.txg.sync();
    return { files: files.map((f) => f.path) };
  }

  /** After a restore: the live file descends from snapshot id. */
  async setLiveParent(v: Vnode, id: number): Promise<void> {
    await this.fs.change(async () => { this.pending.push({ kind: 'parent', ino: v.ino, name: '', id }); });
    await this.fs.txg.sync();
  }

  private queue(op: SnapOp): void {
    this.busy.add(`${op.ino}/${op.name}`);
    this.pending.push(op);
  }

  /** The snapshots of every file a path names (default: the whole datastore), oldest first. */
  async list(path = '/'): Promise<SnapListing[]> {
    const out: SnapListing[] = [];
    for (const f of await this.filesAt(path)) {
      const { snaps } = await this.fs.ds.catalog.of(f.v.ino);
      const byId = new Map(snaps.map((s) => [s.id, s.name]));
      for (const s of snaps) out.push(listing(f.path, s, byId));
    }
    return out;
  }
}

function listing(path: string, s: SnapInfo, names: Map<number, string>): SnapListing {
  return {
    path, name: s.name, id: s.id, parent: s.parent ? names.get(s.parent) ?? null : null,
    txg: Number(s.txg), created: new Date(s.created).toISOString(), size: s.size,
  };
}
