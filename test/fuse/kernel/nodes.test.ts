// The node table: paths from node ids across renames, lookups counted, nodes dropped only when
// nothing names them.
import t from 'tap';
import { NodeTable, ROOT_ID } from '../../../src/fuse/kernel/nodes.js';

t.test('paths follow renames of a parent', async (t) => {
  const n = new NodeTable();
  const vm = n.lookup(n.root, 'vm1'), disk = n.lookup(vm, 'disk0.raw');
  t.same([n.path(n.root), n.path(vm), n.path(disk), n.childPath(n.root, 'x'), n.childPath(vm, 'y')], ['/', '/vm1', '/vm1/disk0.raw', '/x', '/vm1/y']);
  const other = n.lookup(n.root, 'other');
  n.move(n.root, 'vm1', other, 'moved');
  t.equal(n.path(disk), '/other/moved/disk0.raw');
  t.equal(n.get(disk.id), disk);
});

t.test('lookups are counted; forget drops a node, then its unnamed parent', async (t) => {
  const n = new NodeTable();
  const d = n.lookup(n.root, 'd'), f = n.lookup(d, 'f');
  t.equal(n.lookup(d, 'f'), f, 'the same node for the same name');
  t.equal(f.lookups, 2);
  n.forget(d.id, 1);
  t.equal(n.get(d.id), d, 'a parent stays while a child is named');
  n.forget(f.id, 1);
  t.equal(n.get(f.id), f, 'one lookup still held');
  n.forget(f.id, 1);
  t.throws(() => n.get(f.id), { code: 'BAD_HANDLE' });
  t.throws(() => n.get(d.id), { code: 'BAD_HANDLE' }, 'and its parent went with it');
  t.equal(n.size, 1, 'only the root is left');
  n.forget(ROOT_ID, 5);
  t.equal(n.get(ROOT_ID), n.root, 'the root is never dropped');
});

t.test('an open node outlives its last forget until released; ids are never reused', async (t) => {
  const n = new NodeTable();
  const f = n.lookup(n.root, 'f');
  f.opens = 1;
  n.forget(f.id, 1);
  t.equal(n.get(f.id), f);
  f.opens = 0;
  n.released(f);
  t.throws(() => n.get(f.id));
  const g = n.lookup(n.root, 'f');
  t.not(g.id, f.id);
});

t.test('remove and move over an existing name', async (t) => {
  const n = new NodeTable();
  const a = n.lookup(n.root, 'a'), b = n.lookup(n.root, 'b');
  n.move(n.root, 'a', n.root, 'b');
  t.ok(b.gone, 'the replaced node is gone');
  t.equal(n.root.children.get('b'), a);
  t.equal(n.path(a), '/b');
  n.remove(n.root, 'b');
  t.ok(a.gone);
  t.equal(n.root.children.size, 0);
  t.equal(n.get(a.id), a, 'still known while the kernel holds a lookup');
});
