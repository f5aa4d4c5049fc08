/**
 * Reed-Solomon erasure coding over GF(2^8) (polynomial 0x11d, generator 2), systematic: the
 * first k of the k+m fragments are the data itself, the other m are parity. The coding matrix is
 * a (k+m)×k Vandermonde matrix times the inverse of its top k×k square, so its top is the
 * identity and any k of its rows are invertible (the construction of Plank's tutorial and of
 * Backblaze's / klauspost's coders). k = 1 makes every parity row [1]: m+1 plain copies, which
 * is how mirror:N is coded.
 *
 * Written here rather than taken from npm: the maintained coders there are native addons
 * (a second compiled dependency next to fuse-native) or unmaintained; this is ~150 lines.
 */
import { invariant, LIMITS } from '../limits.js';
import { loadGfSimd, TABLES_BYTES } from './gf-simd.js';

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x; LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}

export const gfMul = (a: number, b: number): number => (a && b ? EXP[LOG[a] + LOG[b]] : 0);
const gfInv = (a: number): number => { invariant(a !== 0, 'GF inverse of a non-zero element'); return EXP[255 - LOG[a]]; };
const gfPow = (a: number, n: number): number => (n === 0 ? 1 : a === 0 ? 0 : EXP[(LOG[a] * n) % 255]);

/** One 256-byte product table per coefficient (64 KiB), so a coding pass is one lookup per byte. */
const MUL: Uint8Array[] = Array.from({ length: 256 }, (_, c) => {
  const t = new Uint8Array(256);
  for (let x = 0; x < 256; x++) t[x] = gfMul(c, x);
  return t;
});

type Matrix = number[][];

/** The WebAssembly SIMD kernel (gf-simd.ts), loaded once; null where the engine lacks SIMD, or when VDFS_GF=tables asks for the table path. */
const SIMD = process.env.VDFS_GF === 'tables' ? null : loadGfSimd(gfMul);
export const gfKernel = (): string => (SIMD ? 'wasm-simd' : 'tables');

/** Gauss-Jordan inverse over GF(2^8); null when singular. */
export function invert(a: Matrix): Matrix | null {
  const n = a.length;
  const w = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const p = w.findIndex((row, r) => r >= c && row[c] !== 0);
    if (p < 0) return null;
    [w[c], w[p]] = [w[p], w[c]];
    const inv = gfInv(w[c][c]);
    w[c] = w[c].map((v) => gfMul(v, inv));
    for (let r = 0; r < n; r++) {
      if (r === c || w[r][c] === 0) continue;
      const f = w[r][c];
      w[r] = w[r].map((v, j) => v ^ gfMul(f, w[c][j]));
    }
  }
  return w.map((row) => row.slice(n));
}

const matMul = (a: Matrix, b: Matrix): Matrix =>
  a.map((row) => b[0].map((_, j) => row.reduce((acc, v, i) => acc ^ gfMul(v, b[i][j]), 0)));

/**
 * out ^= coef · src (out = coef · src when `first`). Four bytes at a time through 32-bit views
 * when both are 4-byte aligned (a table lookup per byte still, but one load and one store per
 * word: ~1.8× faster here), byte by byte otherwise.
 */
function mulAdd(out: Uint8Array, src: Uint8Array, coef: number, first: boolean): void {
  const n = out.length;
  if (((out.byteOffset | src.byteOffset | n) & 3) === 0) return mulAdd32(new Uint32Array(out.buffer, out.byteOffset, n >> 2), new Uint32Array(src.buffer, src.byteOffset, n >> 2), coef, first);
  const t = MUL[coef];
  if (first) for (let i = 0; i < n; i++) out[i] = t[src[i]];
  else for (let i = 0; i < n; i++) out[i] ^= t[src[i]];
}

function mulAdd32(o: Uint32Array, s: Uint32Array, coef: number, first: boolean): void {
  const n = o.length;
  if (coef === 1) {
    if (first) o.set(s);
    else for (let i = 0; i < n; i++) o[i] ^= s[i];
    return;
  }
  const t = MUL[coef];
  for (let i = 0; i < n; i++) {
    const x = s[i];
    const y = (t[x & 255] | (t[(x >>> 8) & 255] << 8) | (t[(x >>> 16) & 255] << 16) | (t[x >>> 24] << 24)) >>> 0;
    o[i] = first ? y : o[i] ^ y;
  }
}

/**
 * outs[j] = Σ_i rows[j][i] · srcs[i], all of outs' length (srcs may be longer: their first bytes
 * are coded); one stripe of combineStripes.
 */
export function combine(rows: Matrix, srcs: Uint8Array[], outs: Uint8Array[], simd = SIMD): void {
  if (!outs.length) return;
  const len = outs[0].length;
  combineStripes(rows, [srcs.map((src) => src.subarray(0, len))], (_, p) => outs[p], simd);
}

/**
 * For each stripe j, out(j, p) = Σ_i rows[p][i] · units[j][i], every unit of one length.
 * Through the SIMD kernel the units are copied into its memory (16-byte padded) a window of
 * SPREAD_CODE_STRIPES stripes at a time, each source's units side by side, each product is one
 * call over the window (one call per stripe and product before: ~65,000 stripes per GiB at
 * ec:4+2), and the outputs are copied back; the tables code stripe by stripe.
 */
export function combineStripes(rows: Matrix, units: Uint8Array[][], out: (j: number, p: number) => Uint8Array, simd = SIMD): void {
  const n = units.length;
  if (!n || !rows.length) return;
  if (!simd) {
    units.forEach((srcs, j) => rows.forEach((row, p) => { const o = out(j, p); srcs.forEach((src, i) => mulAdd(o, src, row[i], i === 0)); }));
    return;
  }
  const k = units[0].length, len = units[0][0].length;
  const L = (len + 15) & ~15, W = Math.min(n, LIMITS.SPREAD_CODE_STRIPES);
  simd.reserve(TABLES_BYTES + (k + rows.length) * W * L);
  const mem = simd.bytes();
  const at = (region: number, j: number) => TABLES_BYTES + (region * W + j) * L;
  for (let j0 = 0; j0 < n; j0 += W) {
    const w = Math.min(W, n - j0);
    for (let j = 0; j < w; j++) {
      const srcs = units[j0 + j];
      invariant(srcs.length === k, 'every stripe has k units');
      for (let i = 0; i < k; i++) { invariant(srcs[i].length === len, 'units of one length'); mem.set(srcs[i], at(i, j)); }
    }
    // the bytes between units (len not a multiple of 16) are coded too, and never copied out
    for (let p = 0; p < rows.length; p++) {
      for (let i = 0; i < k; i++) simd.mul(at(i, 0), at(k + p, 0), w * L, rows[p][i] * 32, i === 0 ? 1 : 0);
    }
    for (let j = 0; j < w; j++) for (let p = 0; p < rows.length; p++) out(j0 + j, p).set(mem.subarray(at(k + p, j), at(k + p, j) + len));
  }
}

export class ReedSolomon {
  /** Rows k..k+m-1 of the systematic coding matrix. */
  readonly parityRows: Matrix;
  private decoders = new Map<string, Matrix>();

  constructor(readonly k: number, readonly m: number) {
    invariant(k >= 1 && m >= 0 && k + m <= 255, 'Reed-Solomon shape within GF(2^8)');
    const vander: Matrix = Array.from({ length: k + m }, (_, r) => Array.from({ length: k }, (_, c) => gfPow(r, c)));
    const topInv = invert(vander.slice(0, k));
    invariant(topInv, 'Vandermonde top square invertible');
    this.parityRows = matMul(vander, topInv).slice(k);
  }

  /** Fills `parity` (m buffers) from `data` (k buffers), all of one length. */
  encode(data: Uint8Array[], parity: Uint8Array[]): void {
    invariant(data.length === this.k && parity.length === this.m, 'fragment counts match the code');
    combine(this.parityRows, data, parity);
  }

  /** For each stripe j, out(j, i) = parity fragment roles[i] (0..m-1) of units[j] (its k data units, all of one length). */
  encodeStripes(units: Uint8Array[][], roles: number[], out: (j: number, i: number) => Uint8Array): void {
    invariant(roles.every((r) => r >= 0 && r < this.m), 'parity roles within the code');
    combineStripes(roles.map((r) => this.parityRows[r]), units, out);
  }

  /**
   * Rebuilds the missing data fragments in place: `frags` has k+m entries, null where missing;
   * at least k must be present. Returns false (and changes nothing) when fewer than k are.
   */
  reconstructData(frags: (Uint8Array | null)[], len: number): boolean {
    const have = frags.map((f, i) => (f ? i : -1)).filter((i) => i >= 0).slice(0, this.k);
    if (have.length < this.k) return false;
    if (frags.slice(0, this.k).every((f) => f)) return true;
    const key = have.join(',');
    let dec = this.decoders.get(key);
    if (!dec) {
      const rows = have.map((i) => (i < this.k ? Array.from({ length: this.k }, (_, c) => (c === i ? 1 : 0)) : this.parityRows[i - this.k]));
      const inv = invert(rows);
      invariant(inv, 'any k rows of the coding matrix are invertible');
      dec = inv;
      this.decoders.set(key, dec);
    }
    const lost = Array.from({ length: this.k }, (_, j) => j).filter((j) => !frags[j]);
    const outs = lost.map(() => new Uint8Array(len));
    combine(lost.map((j) => dec![j]), have.map((i) => frags[i]!), outs);
    lost.forEach((j, i) => { frags[j] = outs[i]; });
    return true;
  }

  /** Every missing fragment (data and parity) rebuilt in place; false when fewer than k are present. */
  reconstructAll(frags: (Uint8Array | null)[], len: number): boolean {
    if (!this.reconstructData(frags, len)) return false;
    const lost = Array.from({ length: this.m }, (_, r) => r).filter((r) => !frags[this.k + r]);
    const outs = lost.map(() => new Uint8Array(len));
    combine(lost.map((r) => this.parityRows[r]), frags.slice(0, this.k) as Uint8Array[], outs);
    lost.forEach((r, i) => { frags[this.k + r] = outs[i]; });
    return true;
  }
}
