/**
 * A file's share of a transaction group as the commit takes it (txn/commit.ts FrozenFile): its
 * frozen dirty set, which of its partly written blocks go out as sub-block records (fs/subs.ts),
 * the fill of the others before they are encoded, and the cleaner's way in.
 */
import type { FrozenFile } from '../txn/commit.js';
import type { InodeAttrs } from '../meta/inode.js';
import { fillAll } from './data.js';
import { limitSubs, moveSub, subCandidates } from './subs.js';
import type { DirtySet, Vnode } from './vnode.js';
import type { Filesystem } from './filesystem.js';

export function frozenFile(fs: Filesystem, v: Vnode, set: DirtySet, attrs: InodeAttrs): FrozenFile {
  const ds = fs.ds, subs = subCandidates(ds, set);
  set.below = { root: v.map.root, txg: ds.txg };
  return {
    ino: v.ino, attrs, map: v.map, blocks: set.blocks, subs, logBytes: set.logBytes, seal: new Set(), trimFrom: set.trimFrom, deleted: v.deleted,
    complete: async () => {
      await limitSubs(ds, v.map, set, subs);
      await fillAll(ds, v, set, (lbn, e) => fs.raiseAlarm({
        file: `inode ${v.ino}`, snapshot: '', node: `block ${lbn}`,
        reason: `a partial write landed on a damaged block: the bytes it did not write are zeros now (${(e as Error).message})`,
      }), subs);
    },
    moveSub: (lbn, sub, data) => moveSub(set, subs, lbn, sub, data, ds.blockSize),
    done: (root, sizes) => { v.attrs.mapRoot = root; v.attrs.stored = sizes.stored; v.attrs.logical = sizes.logical; },
  };
}
