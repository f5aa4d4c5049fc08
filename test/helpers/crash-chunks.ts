/**
 * Self-describing 4 KiB chunks for the crash tests: each names its sequence number and position
 * and is filled from a PRNG seeded by both, so a chunk read back tells which write put it there.
 */
export const CHUNK = 4096;
const MAGIC = Buffer.from('VDCRASH1');

export function makeChunk(seed: number, seq: number, chunk: number): Buffer {
  const b = Buffer.alloc(CHUNK);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(chunk, 12);
  let x = (seed ^ Math.imul(seq, 0x9e3779b1) ^ Math.imul(chunk + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 16; i < CHUNK; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** The sequence number a chunk holds: 0 for zeros, -1 when it is neither zeros nor a chunk we wrote. */
export function chunkSeq(seed: number, b: Buffer, chunk: number): number {
  if (b.every((x) => x === 0)) return 0;
  if (!b.subarray(0, 8).equals(MAGIC) || b.readUInt32LE(12) !== chunk) return -1;
  const seq = b.readUInt32LE(8);
  return makeChunk(seed, seq, chunk).equals(b) ? seq : -1;
}
