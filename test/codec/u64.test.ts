import t from 'tap';
import { getNumBE, getNumLE, getU64BE, getU64LE, putNumBE, putNumLE, putU64BE, putU64LE } from '../../src/codec/u64.js';
import { rng, seedFromEnv } from '../helpers/mem.js';

const SEED = seedFromEnv();
t.comment(`seed ${SEED} (SEED=${SEED} repeats this run)`);
const rand = rng(SEED);
const u64 = (): bigint => (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32));

t.test('u64 fields read and write as Buffer does, at every offset of a buffer', async (t) => {
  const edges = [0n, 1n, 0xffn, 0x100n, 0xffff_ffffn, 0x1_0000_0000n, (1n << 63n), (1n << 64n) - 1n];
  let wrong = 0;
  for (let i = 0; i < 2000; i++) {
    const v = i < edges.length ? edges[i] : u64();
    const off = i % 9, ours = Buffer.alloc(24, 0xaa), theirs = Buffer.alloc(24, 0xaa);
    putU64LE(ours, off, v); theirs.writeBigUInt64LE(v, off);
    if (!ours.equals(theirs) || getU64LE(theirs, off) !== v) wrong++;
    putU64BE(ours, off, v); theirs.writeBigUInt64BE(v, off);
    if (!ours.equals(theirs) || getU64BE(theirs, off) !== v) wrong++;
  }
  t.equal(wrong, 0, `seed ${SEED}`);
});

t.test('safe integers read and write as Number(BigInt) does', async (t) => {
  const edges = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
  let wrong = 0;
  for (let i = 0; i < 2000; i++) {
    const n = i < edges.length ? edges[i] : Math.floor(rand() * 2 ** (1 + Math.floor(rand() * 53)));
    const ours = Buffer.alloc(16), theirs = Buffer.alloc(16);
    putNumLE(ours, 3, n); theirs.writeBigUInt64LE(BigInt(n), 3);
    if (!ours.equals(theirs) || getNumLE(theirs, 3) !== n) wrong++;
    putNumBE(ours, 3, n); theirs.writeBigUInt64BE(BigInt(n), 3);
    if (!ours.equals(theirs) || getNumBE(theirs, 3) !== n) wrong++;
  }
  t.equal(wrong, 0, `seed ${SEED}`);
  const big = Buffer.alloc(8); big.writeBigUInt64LE((1n << 64n) - 1n);
  t.equal(getNumLE(big, 0), Number((1n << 64n) - 1n), 'above 2^53 rounds as Number(BigInt) does');
});

t.test('out-of-range values and offsets throw instead of writing something else', async (t) => {
  const b = Buffer.alloc(16);
  t.throws(() => putU64LE(b, 0, -1n), /u64 field holds a value/);
  t.throws(() => putU64BE(b, 0, 1n << 64n), /u64 field holds a value/);
  t.throws(() => putNumLE(b, 0, -1), /non-negative safe integer/);
  t.throws(() => putNumLE(b, 0, 1.5), /non-negative safe integer/);
  t.throws(() => putNumBE(b, 0, 2 ** 53), /non-negative safe integer/);
  t.throws(() => putU64LE(b, 9, 1n), /inside its buffer/);
  t.throws(() => getNumLE(b, -1), /inside its buffer/);
  t.ok(b.equals(Buffer.alloc(16)), 'nothing was written');
});
