/**
 * Namespace changes: create, mkdir, symlink, hard links, unlink, rmdir, rename. Each runs under
 * the filesystem's namespace lock (Filesystem.change) and publishes a new directory-tree root.
 */
import { fail } from '../errors.js';
import { LIMITS } from '../limits.js';
import { direntKey, encodeDirent, newAttrs, S_IFDIR, S_IFLNK, S_IFREG } from '../meta/inode.js';
import { emptyDirty, Vnode } from './vnode.js';
import { release } from './log-bytes.js';
import type { Caller, Filesystem } from './filesystem.js';

export class Namespace {
  constructor(private fs: Filesystem) {}

  private newVnode(mode: number, who: Caller): Vnode {
    const ino = this.fs.ds.nextIno++;
    const attrs = newAttrs(mode, who.uid, who.gid);
    const v = new Vnode(ino, attrs, this.fs.mapTree(ino, attrs));
    v.dirty = true;
    this.fs.vnodes.set(ino, v);
    return v;
  }

  private async link(dir: Vnode, name: string, v: Vnode): Promise<void> {
    await this.fs.ds.dirents.batch(() => this.fs.ds.dirents.put(direntKey(dir.ino, name), encodeDirent(v.ino, v.attrs.mode)));
    this.afterDirentChange(dir);
  }

  private async unlinkName(dir: Vnode, name: string): Promise<void> {
    await this.fs.ds.dirents.batch(() => this.fs.ds.dirents.del(direntKey(dir.ino, name)));
    this.afterDirentChange(dir);
  }

  private afterDirentChange(dir: Vnode): void {
    this.fs.direntFreedSince.push(...this.fs.ds.dirents.takeFreed());
    this.fs.nsDirty = true;
    dir.touch();
  }

  async create(path: string, mode: number, who: Caller, type = S_IFREG, link?: Buffer): Promise<Vnode> {
    return this.fs.change(async () => {
      const { dir, name } = await this.fs.parentOf(path);
      if ((await this.fs.child(dir, name)) !== null) fail('EXISTS', `${path} exists`);
      const v = this.newVnode(type | (mode & 0o7777), who);
      if (type === S_IFDIR) { v.attrs.nlink = 2; dir.attrs.nlink++; }
      if (link) { v.attrs.link = link; v.attrs.size = link.length; }
      await this.link(dir, name, v);
      return v;
    });
  }

  mkdir = (path: string, mode: number, who: Caller) => this.create(path, mode, who, S_IFDIR);

  async symlink(target: string, path: string, who: Caller): Promise<void> {
    const t = Buffer.from(target);
    if (t.length > LIMITS.SYMLINK_MAX) fail('NAME_TOO_LONG', 'symlink target too long');
    await this.create(path, 0o777, who, S_IFLNK, t);
  }

  async readlink(path: string): Promise<string> {
    const v = await this.fs.resolve(path);
    if (!v.isLink) fail('INVALID', `${path} is not a symlink`);
    return v.attrs.link.toString();
  }

  async hardlink(src: string, dst: string): Promise<void> {
    this.fs.refuseHidden(src);
    await this.fs.change(async () => {
      const v = await this.fs.resolve(src);
      if (v.isDir) fail('NOT_SUPPORTED', 'hard links to directories are not allowed');
      const { dir, name } = await this.fs.parentOf(dst);
      if ((await this.fs.child(dir, name)) !== null) fail('EXISTS', `${dst} exists`);
      v.attrs.nlink++;
      v.changed();
      await this.link(dir, name, v);
    });
  }

  /** The directory, name and vnode of an existing entry (caller holds the namespace lock). */
  private async entry(path: string): Promise<{ dir: Vnode; name: string; v: Vnode }> {
    const { dir, name } = await this.fs.parentOf(path);
    const ino = await this.fs.child(dir, name);
    if (ino === null) fail('NOT_FOUND', `${path}: no such file or directory`);
    return { dir, name, v: await this.fs.vnode(ino!) };
  }

  async unlink(path: string): Promise<void> {
    await this.fs.change(async () => {
      const { dir, name, v } = await this.entry(path);
      if (v.isDir) fail('IS_DIR', `${path} is a directory`);
      await this.unlinkName(dir, name);
      this.dropLink(v);
    });
  }

  private dropLink(v: Vnode): void {
    v.attrs.nlink--;
    v.changed();
    if (v.attrs.nlink <= 0 || v.isDir) {
      v.deleted = true;
      release(this.fs.ds, v.open, this.fs.dirtyCounter);
      v.open = emptyDirty();
    }
  }

  async rmdir(path: string): Promise<void> {
    await this.fs.change(async () => {
      const { dir, name, v } = await this.entry(path);
      if (!v.isDir) fail('NOT_DIR', `${path} is not a directory`);
      if (!(await this.isEmptyDir(v))) fail('NOT_EMPTY', `${path} is not empty`);
      await this.unlinkName(dir, name);
      dir.attrs.nlink--;
      this.dropLink(v);
    });
  }

  private async isEmptyDir(v: Vnode): Promise<boolean> {
    for await (const _ of this.fs.entries(v)) return false;
    return true;
  }

  async rename(src: string, dst: string): Promise<void> {
    await this.fs.change(async () => {
      const from = await this.entry(src);
      const to = await this.fs.parentOf(dst);
      const v = from.v;
      if (v.isDir && (dst + '/').startsWith(src.replace(/\/*$/, '/'))) fail('INVALID', 'cannot move a directory into itself');
      const existing = await this.fs.child(to.dir, to.name);
      if (existing === v.ino) return;
      if (existing !== null) {
        const old = await this.fs.vnode(existing);
        if (old.isDir && !v.isDir) fail('IS_DIR', `${dst} is a directory`);
        if (!old.isDir && v.isDir) fail('NOT_DIR', `${dst} is not a directory`);
        if (old.isDir && !(await this.isEmptyDir(old))) fail('NOT_EMPTY', `${dst} is not empty`);
        if (old.isDir) to.dir.attrs.nlink--;
        this.dropLink(old);
      }
      await this.fs.ds.dirents.batch(async () => {
        await this.fs.ds.dirents.del(direntKey(from.dir.ino, from.name));
        await this.fs.ds.dirents.put(direntKey(to.dir.ino, to.name), encodeDirent(v.ino, v.attrs.mode));
      });
      this.afterDirentChange(from.dir);
      this.afterDirentChange(to.dir);
      if (v.isDir && from.dir !== to.dir) { from.dir.attrs.nlink--; to.dir.attrs.nlink++; }
      v.changed();
    });
  }
}
