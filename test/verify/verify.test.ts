// The snapshot metadata verifier: clean → no alarm; each kind of damage written into a test
// datastore → an alarm naming file, snapshot, node and reason; 50 snapshots each changing 1%
// → every shared node checked once, under 2x the nodes of verifying the file alone.
import t from 'tap';
import { encodeRecord, RecordKind } from '../../src/codec/record.js';
import { BlockPtr, decodePtr, encodePtr } from '../../src/format/ptr.js';
import { LIMITS } from '../../src/limits.js';
import { CowTree, Node } from '../../src/meta/btree.js';
import { encodeNode, NodeImage } from '../../src/meta/node-codec.js';
import type { Datastore } from '../../src/txn/datastore.js';
import { mapTreeId } from '../../src/txn/datastore.js';
import { verify } from '../../src/fs/commands.js';
import { Verifier } from '../../src/verify/verify.js';
import { memDatastore, ROOT, rng } from '../helpers/mem.js';
import type { MemTarget } from '../../src/backing/target.js';

const BS = 4096;

/** A file of 1,200 blocks (a two-level map), snapshots "base" and "later" (a few blocks apart). */
async function setup() {
  const { target, ds, fs } = await memDatastore({ blockSize: BS, segmentSize: 256 * 1024 });
  const fh = fs.addHandle(await fs.create('/disk', 0o644, ROOT));
  for (let lbn = 0; lbn < 1200; lbn++) await fs.write(fh, lbn * BS, Buffer.alloc(BS, (lbn % 250) + 1));
  await fs.snapshots.create('/disk', 'base');
  for (const lbn of [3, 700, 1100]) await fs.write(fh, lbn * BS, Buffer.alloc(BS, 0xee));
  await fs.snapshots.create('/disk', 'later');
  fs.release(fh);
  const v = await fs.resolve('/disk');
  const later = (await ds.catalog.find(v.ino, 'later'))!;
  return { target, ds, fs, ino: v.ino, later };
}

/** Writes node images as records into a fresh, live segment; returns their pointers. */
async function writeNodes(ds: Datastore, target: MemTarget, ino: bigint, nodes: { img: NodeImage; birth: bigint }[]): Promise<BlockPtr[]> {
  const seg = ds.space.take();
  let off = 0;
  const out: BlockPtr[] = [];
  for (const { img, birth } of nodes) {
    const { bytes, checksum } = encodeRecord({ kind: RecordKind.Node, owner: mapTreeId(ino), key: BigInt(img.level), birth }, encodeNode(img));
    await target.write(LIMITS.HEADER_REGION + seg * ds.sb.segmentSize + off, bytes);
    ds.space.add(seg, bytes.length);
    const p = { state: 2, seg, off, len: bytes.length, checksum, birth } as BlockPtr;
    off += bytes.length;
    out.push(p);
  }
  return out;
}

async function image(ds: Datastore, ino: bigint, p: BlockPtr): Promise<NodeImage> { return ds.loader(p, mapTreeId(ino)); }

type Damage = (x: Awaited<ReturnType<typeof setup>>, root: NodeImage, leaf: NodeImage) => { img: NodeImage; birth: bigint; leafDamaged: boolean };

const damages: [string, RegExp, Damage][] = [
  ['swapped keys', /keys out of order/, (_x, _r, leaf) => {
    const keys = leaf.keys.slice(); [keys[0], keys[1]] = [keys[1], keys[0]];
    const vals = leaf.vals.slice(); [vals[0], vals[1]] = [vals[1], vals[0]];
    return { img: { ...leaf, keys, vals }, birth: 0n, leafDamaged: true };
  }],
  ['child pointer out of range', /child pointer out of range/, (x, root) => {
    const kids = root.kids.slice(); kids[1] = { ...kids[1], seg: x.ds.space.segCount + 100 };
    return { img: { ...root, kids }, birth: 0n, leafDamaged: false };
  }],
  ['pointer to a freed segment', /free segment/, (x, _r, leaf) => {
    const free = x.ds.space.take(); // taken and left empty: nothing live there
    const vals = leaf.vals.slice(); vals[0] = encodePtr({ ...decodePtr(vals[0]), seg: free });
    return { img: { ...leaf, vals }, birth: 0n, leafDamaged: true };
  }],
  ['node newer than its snapshot', /after its snapshot/, (x, _r, leaf) => ({ img: leaf, birth: x.later.txg + 5n, leafDamaged: true })],
];

t.test('a clean datastore raises no alarm', async (t) => {
  const { fs } = await setup();
  const r = await verify(fs, null);
  t.same(r.alarms, []);
  t.equal(r.versions, 3, 'base, later and the live file');
  t.equal(fs.alarms.count, 0);
});

t.test('a flipped byte in a node is named', async (t) => {
  const x = await setup();
  const root = await image(x.ds, x.ino, x.later.mapRoot);
  const victim = root.kids[0];
  const at = LIMITS.HEADER_REGION + victim.seg * x.ds.sb.segmentSize + victim.off + 100;
  const b = await x.target.read(at, 1);
  await x.target.write(at, Buffer.from([b[0] ^ 0x40]));
  const r = await verify(x.fs, '/disk');
  const hit = r.alarms.find((a) => a.node === `${victim.seg}:${victim.off}`);
  t.ok(hit, `alarm for node ${victim.seg}:${victim.off}: ${JSON.stringify(r.alarms)}`);
  t.match(hit, { file: '/disk', reason: /checksum/ });
  t.ok(x.fs.alarms.count > 0, 'status counts it');
});

for (const [name, reason, damage] of damages) {
  t.test(`damage: ${name}`, async (t) => {
    const x = await setup();
    const root = await image(x.ds, x.ino, x.later.mapRoot);
    t.notOk(root.leaf, 'a two-level map');
    const leaf = await image(x.ds, x.ino, root.kids[0]);
    const d = damage(x, root, leaf);
    let rootImg = d.img, bad: BlockPtr;
    if (d.leafDamaged) {
      [bad] = await writeNodes(x.ds, x.target, x.ino, [{ img: d.img, birth: d.birth || root.kids[0].birth }]);
      rootImg = { ...root, kids: [bad, ...root.kids.slice(1)] };
    }
    const [newRoot] = await writeNodes(x.ds, x.target, x.ino, [{ img: rootImg, birth: x.later.mapRoot.birth }]);
    if (!d.leafDamaged) bad = newRoot;
    x.later.mapRoot = newRoot; // the catalog's record of "later" now names the damaged tree
    const r = await verify(x.fs, '/disk');
    const hit = r.alarms.find((a) => reason.test(a.reason));
    t.ok(hit, `alarm matching ${reason}: ${JSON.stringify(r.alarms)}`);
    t.match(hit, { file: '/disk', snapshot: 'later' });
    t.ok(r.alarms.every((a) => a.snapshot === 'later'), 'only the damaged snapshot is named');
    t.equal(hit!.node, `${bad!.seg}:${bad!.off}`, 'names the damaged node');
  });
}

t.test('50 snapshots each changing 1%: shared nodes checked once, < 2x the file alone', async (t) => {
  const { ds, fs } = await memDatastore({ blockSize: BS, segmentSize: 4 * 1024 * 1024 });
  const blocks = (Number(process.env.VERIFY_MIB ?? 1024) * 1024 * 1024) / BS;
  const fh = fs.addHandle(await fs.create('/disk', 0o644, ROOT));
  const MiB = 1024 * 1024;
  for (let off = 0; off < blocks * BS; off += MiB) await fs.write(fh, off, Buffer.alloc(MiB)); // zero extents: a full map, no data
  const rand = rng(5);
  const run = Math.ceil(blocks / 100);
  for (let i = 0; i < 50; i++) {
    const first = Math.floor(rand() * (blocks - run));
    await fs.write(fh, first * BS, Buffer.alloc(run * BS, i + 1));
    await fs.snapshots.create('/disk', `s${i}`);
  }
  fs.release(fh);
  const v = await fs.resolve('/disk');
  const distinct = new Set<string>();
  const walk = async (tree: CowTree, n: Node | null): Promise<void> => {
    if (!n) return;
    await tree.load(n);
    distinct.add(`${n.ptr!.seg}:${n.ptr!.off}`);
    for (const k of n.kids) await walk(tree, k);
  };
  const roots = [...(await ds.catalog.of(v.ino)).snaps.map((s) => s.mapRoot), v.attrs.mapRoot];
  for (const r of roots) { const tr = new CowTree(mapTreeId(v.ino), ds.loader, r); await walk(tr, tr.root); }
  const t0 = performance.now();
  const all = await verify(fs, '/disk');
  const tAll = performance.now() - t0;
  const alone = new Verifier(ds);
  const t1 = performance.now();
  await alone.single(v.ino, '/disk', '(live)', ds.txg, v.attrs.mapRoot);
  const tAlone = performance.now() - t1;
  t.same(all.alarms, []);
  t.equal(all.versions, 51);
  t.equal(all.nodesChecked, distinct.size, 'each distinct node checked exactly once');
  t.ok(all.nodesChecked < 2 * alone.report.nodesChecked, `hierarchy ${all.nodesChecked} nodes vs file alone ${alone.report.nodesChecked} (${(all.nodesChecked / alone.report.nodesChecked).toFixed(2)}x)`);
  t.comment(`time: hierarchy ${tAll.toFixed(0)} ms, file alone ${tAlone.toFixed(0)} ms (${(tAll / tAlone).toFixed(2)}x); shared hits ${all.nodesShared}`);
});
