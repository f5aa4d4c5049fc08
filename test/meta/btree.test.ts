// Seeded property test of the copy-on-write B+tree against a Map model.
import t from 'tap';
import { CowTree, Node, persistTree } from '../../src/meta/btree.js';
import { decodeNode, encodeNode } from '../../src/meta/node-codec.js';
import { BlockPtr, ExtentState } from '../../src/format/ptr.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const OPS = Number(process.env.BTREE_OPS ?? 100_000);

/** A node store in memory: persisted nodes are encoded and decoded, as on disk. */
function memStore() {
  const nodes: Buffer[] = [];
  const loader = async (p: BlockPtr) => decodeNode(nodes[p.off]);
  const write = async (n: Node): Promise<BlockPtr> => {
    nodes.push(encodeNode(n.image()));
    return { state: ExtentState.Present, seg: 0, off: nodes.length - 1, len: 1, checksum: 0n, birth: 0n };
  };
  return { loader, write, nodes };
}

const key = (n: number) => { const k = Buffer.alloc(8); k.writeBigUInt64BE(BigInt(n)); return k; };

async function contents(tree: CowTree, root: Node | null): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  let prev: Buffer | null = null;
  for await (const [k, v] of tree.scan(undefined, undefined, root)) {
    if (prev && Buffer.compare(prev, k) >= 0) throw new Error('scan out of order');
    prev = k;
    m.set(k.toString('hex'), v.toString('hex'));
  }
  return m;
}

t.test('random operations match a Map model; old roots keep their contents', async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed} (rerun with SEED=${seed})`);
  const rand = rng(seed);
  const store = memStore();
  let tree = new CowTree(9n, store.loader, null);
  const model = new Map<string, string>();
  const saved: { root: Node | null; snapshot: Map<string, string> }[] = [];
  const keySpace = 20_000;
  let mismatches = 0;
  for (let i = 0; i < OPS; i++) {
    const r = rand();
    const k = key(Math.floor(rand() * keySpace));
    const kh = k.toString('hex');
    if (r < 0.5) {
      const v = Buffer.alloc(1 + Math.floor(rand() * 40), Math.floor(rand() * 256));
      await tree.batch(() => tree.put(k, v));
      model.set(kh, v.toString('hex'));
    } else if (r < 0.78) {
      const had = await tree.batch(() => tree.del(k));
      if (had !== model.has(kh)) mismatches++;
      model.delete(kh);
    } else if (r < 0.975) {
      const got = await tree.get(k);
      if ((got?.toString('hex')) !== model.get(kh)) mismatches++;
    } else if (r < 0.998) {
      // range scan of a random window
      const a = Math.floor(rand() * keySpace), b = a + Math.floor(rand() * 500);
      const seen: string[] = [];
      for await (const [kk] of tree.scan(key(a), key(b))) seen.push(kk.toString('hex'));
      const lo = key(a).toString('hex'), hi = key(b).toString('hex');
      const want = [...model.keys()].filter((x) => x >= lo && x < hi).sort();
      if (seen.join() !== want.join()) mismatches++;
    } else {
      // persist, keep the old root, and continue from a tree reopened from its pointer
      const ptr = await persistTree(tree.root, store.write);
      saved.push({ root: tree.root, snapshot: new Map(model) });
      tree = new CowTree(9n, store.loader, ptr);
    }
    if (mismatches) { t.fail(`mismatch at op ${i} (seed ${seed})`); return; }
  }
  t.same(await contents(tree, tree.root), model, `final contents equal the model (seed ${seed})`);
  t.ok(saved.length > 10, `kept ${saved.length} old roots`);
  const step = Math.max(1, Math.floor(saved.length / 20));
  for (let i = 0; i < saved.length; i += step) {
    t.same(await contents(tree, saved[i].root), saved[i].snapshot, `old root ${i} still reads its old contents`);
  }
});

t.test('copy-on-write: a published root is never changed by later batches', async (t) => {
  const store = memStore();
  const tree = new CowTree(1n, store.loader, null);
  await tree.batch(async () => { for (let i = 0; i < 5000; i++) await tree.put(key(i), Buffer.alloc(20, i & 255)); });
  const old = tree.root;
  const before = await contents(tree, old);
  await tree.batch(async () => { for (let i = 0; i < 5000; i += 2) await tree.del(key(i)); });
  await tree.batch(async () => { for (let i = 0; i < 5000; i += 3) await tree.put(key(i), Buffer.alloc(7, 1)); });
  t.same(await contents(tree, old), before, 'old root unchanged');
  t.not(tree.root, old);
  t.ok(tree.takeFreed().length > 0, 'replaced nodes are reported for freeing');
});

t.test('deleting everything gives the empty tree', async (t) => {
  const tree = new CowTree(1n, memStore().loader, null);
  await tree.batch(async () => { for (let i = 0; i < 3000; i++) await tree.put(key(i), Buffer.alloc(30)); });
  await tree.batch(async () => { for (let i = 0; i < 3000; i++) await tree.del(key(i)); });
  t.equal(tree.root, null);
});
