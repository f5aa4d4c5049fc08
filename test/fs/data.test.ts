// Reads as pieces (the kernel binding's reply, written while later requests run): a piece of a
// block still dirty in memory is a copy, so a later write does not change a reply already taken;
// stored records and holes are shared and never change; the pieces join to what read() gives.
import t from 'tap';
import { block, memDatastore, ROOT, SMALL } from '../helpers/mem.js';

t.test('pieces of dirty blocks are copies; stored blocks and holes read the same later', async (t) => {
  const bs = SMALL.blockSize;
  const m = await memDatastore();
  const fs = m.fs;
  const fh = fs.addHandle(await fs.create('/v', 0o644, ROOT));
  await fs.write(fh, 0, block(bs, 0, 1));
  await fs.write(fh, 3 * bs, block(bs, 3, 1)); // blocks 1 and 2: a hole
  await fs.fsync(); // block 0 and 3 stored
  await fs.write(fh, 3 * bs, block(bs, 3, 2)); // block 3 dirty again
  await fs.write(fh, 4 * bs, block(bs, 4, 2)); // block 4 dirty only
  const want = Buffer.concat([block(bs, 0, 1), Buffer.alloc(2 * bs), block(bs, 3, 2), block(bs, 4, 2).subarray(0, 100)]);
  const pieces = await fs.readv(fh, 0, 4 * bs + 100);
  t.ok(Buffer.concat(pieces).equals(want), 'the pieces hold the file');
  t.ok((await fs.read(fh, 0, 4 * bs + 100)).equals(want), 'and read() gives the same bytes');
  await fs.write(fh, 3 * bs, block(bs, 3, 3));
  await fs.write(fh, 4 * bs, block(bs, 4, 3));
  await fs.write(fh, 0, block(bs, 0, 3));
  await fs.fsync();
  t.ok(Buffer.concat(pieces).equals(want), 'later writes and a commit do not change pieces already taken');
  t.same(await fs.readv(fh, 5 * bs, 10), [], 'nothing past the end');
  const holes = await fs.readv(fh, bs, 2 * bs);
  t.ok(Buffer.concat(holes).equals(Buffer.alloc(2 * bs)), 'a hole reads zeros');
});
