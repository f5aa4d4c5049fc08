// Block-map values (format v5): round trips of a base with sub-blocks, a v4 value (one block
// pointer) read as a base alone, and every malformed value refused; sub-block record keys.
import t from 'tap';
import { decodeMapValue, encodeMapValue, keyParts, MapValue, presentPtrs, sameContent, subKey, SUB_KEY_BIT } from '../../src/format/map-value.js';
import { BlockPtr, encodePtr, ExtentState, PTR_SIZE, zeroPtr } from '../../src/format/ptr.js';
import { LIMITS } from '../../src/limits.js';

const ptr = (seg: number, sealed = false): BlockPtr => ({ state: ExtentState.Present, seg, off: seg * 100, len: 4144, checksum: BigInt(seg) * 977n, birth: 7n, sealed });

t.test('round trip', async (t) => {
  const v: MapValue = { base: ptr(1, true), subs: [{ index: 0, ptr: ptr(2) }, { index: 5, ptr: { ...zeroPtr(9n), sealed: false } }, { index: 7, ptr: ptr(3, true) }] };
  const b = encodeMapValue(v);
  t.equal(b.length, PTR_SIZE * 4);
  t.same(decodeMapValue(b, 8), v);
  t.same(presentPtrs(v).map((p) => p.seg), [1, 2, 3], 'present pointers, base first');
  t.ok(encodeMapValue({ base: ptr(4), subs: [] }).equals(encodePtr(ptr(4))), 'no sub-blocks: the v4 value, byte for byte');
  t.same(decodeMapValue(encodePtr(ptr(4))), { base: ptr(4), subs: [] }, 'a v4 value reads as a base alone');
});

t.test('malformed values are refused', async (t) => {
  const good = encodeMapValue({ base: ptr(1), subs: [{ index: 1, ptr: ptr(2) }, { index: 3, ptr: ptr(3) }] });
  const bad: [string, Buffer][] = [
    ['short', good.subarray(0, 40)],
    ['empty', Buffer.alloc(0)],
    ['empty base', Buffer.concat([Buffer.alloc(PTR_SIZE), good.subarray(PTR_SIZE)])],
    ['out of order', (() => { const b = Buffer.from(good); b.writeUInt16LE(3, PTR_SIZE + 2); return b; })()],
    ['index past the block', (() => { const b = Buffer.from(good); b.writeUInt16LE(8, 2 * PTR_SIZE + 2); return b; })()],
    ['empty sub-block pointer', (() => { const b = Buffer.from(good); b[PTR_SIZE] = 0; return b; })()],
    ['too many', encodeMapValue({ base: ptr(1), subs: Array.from({ length: LIMITS.OVERLAY_MAX_SUBS + 1 }, (_, i) => ({ index: i, ptr: ptr(i + 2) })) })],
  ];
  for (const [what, b] of bad) t.throws(() => decodeMapValue(b, 8), { code: 'CORRUPT' }, what);
});

t.test('sub-block keys name their block and index; whole-block keys are block numbers', async (t) => {
  for (const [lbn, i] of [[0, 0], [1, 7], [2 ** 40, 255], [123456, 3]]) {
    const k = subKey(lbn, i);
    t.ok(k & SUB_KEY_BIT);
    t.same(keyParts(k), { lbn, sub: i });
  }
  t.same(keyParts(42n), { lbn: 42, sub: null });
});

t.test('values read the same without reading them when all zeros or equal', async (t) => {
  const z = (b: bigint): MapValue => ({ base: zeroPtr(b), subs: [] });
  const enc = (v: MapValue) => encodeMapValue(v);
  t.ok(sameContent(enc(z(1n)), enc(z(2n))), 'zeros of any birth');
  const a: MapValue = { base: ptr(1), subs: [{ index: 2, ptr: ptr(2) }] };
  t.ok(sameContent(enc(a), enc(a)));
  const b: MapValue = { base: ptr(1), subs: [{ index: 2, ptr: ptr(3) }] };
  t.notOk(sameContent(enc(a), enc(b)), 'another sub-block record');
  t.notOk(sameContent(enc(z(1n)), enc(a)), 'zeros against data');
});
