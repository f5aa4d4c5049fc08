// Commit slicing: the Slicer yields once its slice is used up; a commit with 0 ms slices yields
// between every block and node it writes, one with a long slice never; a read issued during a
// commit is served before the commit ends and sees the write.
import t from 'tap';
import { Slicer } from '../../src/txn/slicer.js';
import { LIMITS } from '../../src/limits.js';
import { DEFAULTS, memDatastore, ROOT } from '../helpers/mem.js';

t.test('a slicer yields once its slice is used up, not before', async (t) => {
  const never = new Slicer(1e9), always = new Slicer(0);
  for (let i = 0; i < 10; i++) { t.equal(never.pause(), undefined); await always.pause(); }
  t.equal(never.yields, 0, 'a long slice never yields');
  t.equal(always.yields, 10, 'a 0 ms slice yields at every pause');
});

for (const sliceMs of [0, 1e9]) {
  t.test(`a read issued during a commit, ${sliceMs ? 'one slice' : '0 ms slices'}`, async (t) => {
    const { ds, fs } = await memDatastore(DEFAULTS);
    const bs = ds.blockSize, S = LIMITS.SUB_BYTES, blocks = 256;
    const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
    await fs.write(fh, 0, Buffer.alloc(blocks * bs, 1));
    await fs.txg.sync();
    for (let lbn = 0; lbn < blocks; lbn++) await fs.write(fh, lbn * bs + (lbn % 8) * S, Buffer.alloc(S, 2));
    ds.sliceMs = sliceMs;
    ds.sliceYields = 0;
    // counts the commit's map updates of /v's blocks
    const map = (await fs.resolve('/v')).map, put = map.put.bind(map);
    let puts = 0;
    map.put = (k, v) => { puts++; return put(k, v); };
    let committed = false;
    const commit = fs.txg.sync().then(() => { committed = true; });
    for (let i = 0; i < 8 && puts === 0; i++) await new Promise((r) => setImmediate(r)); // until the map updates begin
    const got = await fs.read(fh, 0, S);
    const putsAtRead = puts;
    t.ok(got.equals(Buffer.alloc(S, 2)), 'the read sees the write');
    if (!sliceMs) t.notOk(committed, 'the read was served while the commit went on');
    else t.comment(`one slice: the commit ${committed ? 'had ended' : 'was still on'} when the read was answered`);
    await commit;
    t.equal(puts, blocks, 'one map update per block');
    if (sliceMs) t.equal(ds.sliceYields, 0, 'one slice: no yield');
    else {
      t.ok(ds.sliceYields > blocks, `${ds.sliceYields} yields in the commit, more than one per block`);
      t.ok(putsAtRead > 0 && putsAtRead < blocks, `the read was answered between map updates (${putsAtRead} of ${blocks} done)`);
    }
    fs.release(fh);
  });
}
