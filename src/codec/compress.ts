/**
 * Per-block compression: raw DEFLATE (RFC 1951) by fflate. Pure: Buffer in, Buffer out.
 *
 * | codec id | name    | stored payload                                                   |
 * |----------|---------|------------------------------------------------------------------|
 * |        0 | none    | the block as it is                                               |
 * |        1 | deflate | a raw DEFLATE stream that inflates to exactly logicalLen bytes  |
 *
 * A block is kept compressed only when that saves at least 1 − COMPRESS_KEEP_RATIO of it;
 * otherwise it is stored raw (codec 0) and reads cost nothing extra. Before trying, a cheap
 * probe estimates the order-0 entropy of a sample of the block's bytes: a block near 8 bits per
 * byte (random, encrypted or already compressed data) cannot reach the ratio by entropy coding
 * and is stored raw without running DEFLATE (the "early abort"; it can miss long repeats of
 * random data, which are rare in disk images).
 */
import { deflateSync, inflateSync } from 'fflate';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';

export const enum Compress { None = 0, Deflate = 1 }
export const COMPRESS_NAMES: Record<string, Compress> = { none: Compress.None, deflate: Compress.Deflate };
const NAMES = Object.fromEntries(Object.entries(COMPRESS_NAMES).map(([n, c]) => [c, n])) as Record<number, string>;
export const compressName = (c: Compress): string => NAMES[c];
/** Whether this version knows compression id c. */
export const isKnownCompress = (c: number): boolean => c in NAMES;
/** fflate's levels: 1 fastest .. 9 smallest. */
export const LEVEL_MIN = 1, LEVEL_MAX = 9;

type Level = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
const log2 = new Float64Array(LIMITS.COMPRESS_PROBE_SAMPLES + 1).map((_, i) => (i ? Math.log2(i) : 0));

/** Order-0 entropy (bits per byte) of every STEP-th byte, STEP chosen to sample at most COMPRESS_PROBE_SAMPLES. */
export function sampledEntropy(data: Uint8Array): number {
  const step = Math.max(1, Math.floor(data.length / LIMITS.COMPRESS_PROBE_SAMPLES));
  const hist = new Uint32Array(256);
  let n = 0;
  for (let i = 0; i < data.length; i += step) { hist[data[i]]++; n++; }
  if (n === 0) return 0;
  let sum = 0;
  for (let b = 0; b < 256; b++) if (hist[b]) sum += hist[b] * log2[hist[b]];
  return Math.log2(n) - sum / n;
}

/** The block deflated, or null when it should be stored raw (probe says random, or it did not shrink enough). */
export function compressBlock(data: Uint8Array, level: number): Buffer | null {
  if (level < LEVEL_MIN || level > LEVEL_MAX) throw new VdfsError('INVALID', `compression level ${level} is not ${LEVEL_MIN}..${LEVEL_MAX}`);
  if (sampledEntropy(data) > LIMITS.COMPRESS_PROBE_MAX_BITS) return null;
  const out = deflateSync(data, { level: level as Level });
  if (out.length > data.length * LIMITS.COMPRESS_KEEP_RATIO) return null;
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

/** Inflates a stored payload; anything but exactly logicalLen bytes of output is CORRUPT. */
export function inflateBlock(stored: Uint8Array, logicalLen: number): Buffer {
  let out: Uint8Array;
  // One spare byte: fflate stops silently at the end of `out`, so a longer stream shows as logicalLen + 1.
  try { out = inflateSync(stored, { out: new Uint8Array(logicalLen + 1) }); } catch (e) {
    throw new VdfsError('CORRUPT', `compressed block does not inflate: ${(e as Error).message}`);
  }
  if (out.length !== logicalLen) throw new VdfsError('CORRUPT', `compressed block inflates to ${out.length} bytes, expected ${logicalLen}`);
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}
