/**
 * Replay of the oplog at open: the entries the chain holds past the newest commit's covered
 * number (read by the datastore at open, oplog/chain.ts) are applied in order through the write
 * path and truncation, as they were the first time; then commits stop naming the old chain, a
 * new one starts (unless the log is off) and, if anything was replayed, a commit makes it
 * durable before the old chain's segments go back to the pool. A gap makes the first fsync after it commit, so that a durable commit
 * names the new chain before the log is used.
 */
import { EntryKind } from '../oplog/format.js';
import { truncateData } from './data.js';
import type { Filesystem } from './filesystem.js';

export async function replayOplog(fs: Filesystem): Promise<void> {
  const chain = fs.ds.oplog;
  const entries = chain.recovered;
  for (const e of entries) {
    const v = await fs.vnode(e.ino).catch(() => null);
    if (!v?.isFile) { fs.log.warn({ ino: Number(e.ino) }, 'oplog entry for a file that is not there: skipped'); continue; }
    if (e.kind === EntryKind.Write) await fs.writes.write(fs.txnOf(v), e.off, e.data);
    else await v.lock.run(() => truncateData(fs.ds, v, e.off, fs.dirtyCounter));
    v.attrs.mtime = e.mtime;
  }
  if (entries.length) fs.journal.replayed(entries[entries.length - 1].seq);
  fs.journal.stats.replayed = entries.length;
  chain.retire();
  if (fs.journal.enabled) chain.start();
  fs.journal.gap();
  if (entries.length) {
    fs.log.info({ entries: entries.length, blocks: chain.stats.recoveredBlocks }, 'oplog replayed');
    await fs.txg.sync();
  }
  chain.dropRecovered();
}
