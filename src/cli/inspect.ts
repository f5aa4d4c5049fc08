/** `vdfs inspect DIR`: the debugging view — superblock, commit ring, trees, files. */
import { compressName } from '../codec/compress.js';
import { decodeCommit } from '../format/commit.js';
import { LIMITS } from '../limits.js';
import { CowTree, Node } from '../meta/btree.js';
import { decodeDirent, decodeInode, key2ino } from '../meta/inode.js';
import type { Datastore } from '../txn/datastore.js';

async function treeShape(t: CowTree): Promise<{ nodes: number; entries: number; depth: number; bytes: number }> {
  const r = { nodes: 0, entries: 0, depth: 0, bytes: 0 };
  const walk = async (n: Node, d: number): Promise<void> => {
    await t.load(n);
    r.nodes++; r.bytes += n.ptr?.len ?? 0; r.depth = Math.max(r.depth, d);
    if (n.leaf) r.entries += n.keys.length;
    for (const k of n.kids) await walk(k, d + 1);
  };
  if (t.root) await walk(t.root, 1);
  return r;
}

export async function inspect(ds: Datastore): Promise<Record<string, unknown>> {
  const ring = await ds.layout.readHeader(LIMITS.COMMIT_RING_OFFSET, ds.sb.commitSlots * LIMITS.SLOT_SIZE);
  const commits = [];
  for (let i = 0; i < ds.sb.commitSlots; i++) {
    const c = decodeCommit(ring.subarray(i * LIMITS.SLOT_SIZE, (i + 1) * LIMITS.SLOT_SIZE), ds.sb.uuid);
    if (c) commits.push({ slot: i, txg: Number(c.txg), time: new Date(c.time).toISOString(), extents: c.extents.length, segCount: c.segCount, current: c.txg === ds.txg });
  }
  commits.sort((a, b) => b.txg - a.txg);
  const names = new Map<bigint, string>();
  for await (const [k, v] of ds.dirents.scan()) names.set(decodeDirent(v), `${key2ino(k)}/${k.subarray(8).toString()}`);
  const files = [];
  for await (const [k, v] of ds.inodes.scan()) {
    const a = decodeInode(v);
    const ino = key2ino(k);
    files.push({ ino: Number(ino), entry: names.get(ino) ?? '/', mode: a.mode.toString(8), nlink: a.nlink, size: a.size, logical: a.logical, stored: a.stored, mapRoot: a.mapRoot.state ? `${a.mapRoot.seg}:${a.mapRoot.off}` : null });
  }
  return {
    superblock: {
      version: ds.sb.version, blockSize: ds.sb.blockSize, segmentSize: ds.sb.segmentSize, commitSlots: ds.sb.commitSlots,
      uuid: ds.sb.uuid.toString('hex'), created: new Date(ds.sb.created).toISOString(), generation: Number(ds.sb.generation),
      policy: { ...ds.sb.policy, compress: compressName(ds.sb.policy.compress) }, keyCheck: ds.sb.keyCheck ? 'set' : 'none', keyedTxg: Number(ds.sb.keyedTxg),
    },
    txg: Number(ds.txg),
    commits,
    space: { segments: ds.space.segCount, freeSegments: ds.space.freeSegments(), usedBytes: ds.space.usedBytes(), openSegment: ds.openSeg, openOffset: ds.openOff },
    trees: {
      inodes: await treeShape(ds.inodes), dirents: await treeShape(ds.dirents), segments: await treeShape(ds.segs),
      snapshots: await treeShape(ds.snapTree), deadLists: await treeShape(ds.deadTree),
    },
    files,
  };
}
