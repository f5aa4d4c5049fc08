import t from 'tap';
import { compareKeys } from '../../src/meta/node-codec.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const SEED = seedFromEnv();
t.comment(`seed ${SEED} (SEED=${SEED} repeats this run)`);
const rand = rng(SEED);

t.test('compareKeys orders keys as Buffer.compare does, short and long', async (t) => {
  // Few distinct byte values and shared prefixes, so equal keys and prefixes come up often.
  const key = () => {
    const len = Math.floor(rand() * 40), b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = rand() < 0.7 ? 0 : [1, 0x7f, 0x80, 0xff][Math.floor(rand() * 4)];
    return b;
  };
  let wrong = 0, equal = 0;
  for (let i = 0; i < 20000; i++) {
    const a = key(), b = rand() < 0.2 ? Buffer.from(a) : key();
    const c = compareKeys(a, b);
    if (c !== Buffer.compare(a, b)) wrong++;
    if (c === 0) equal++;
  }
  t.equal(wrong, 0, `seed ${SEED}`);
  t.ok(equal > 1000, 'equal keys were compared too');
});
