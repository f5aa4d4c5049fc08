/**
 * Block pointer codec: where a record lives and what it must hash to. Used in file-map leaves
 * (with an extent state), as child pointers of tree nodes and as tree roots in a commit.
 *
 * | off | size | field    | meaning                                                  |
 * |-----|------|----------|----------------------------------------------------------|
 * |   0 |    1 | state    | 0 none (empty tree), 1 zero extent (no data), 2 present    |
 * |   1 |    1 | flags    | bit 0: the record is sealed (the read refuses it otherwise) |
 * |   2 |    2 | reserved | 0                                                        |
 * |   4 |    4 | seg      | segment number                                           |
 * |   8 |    4 | off      | byte offset of the record inside the segment             |
 * |  12 |    4 | len      | record length, header included                           |
 * |  16 |    8 | checksum | the record's checksum                                    |
 * |  24 |    8 | birth    | transaction group that wrote the record                  |
 */
import { VdfsError } from '../errors.js';
import { getU64LE, putU64LE } from '../codec/u64.js';

export const PTR_SIZE = 32;
export const enum ExtentState { None = 0, Zero = 1, Present = 2 }

export interface BlockPtr {
  state: ExtentState;
  seg: number;
  off: number;
  len: number;
  checksum: bigint;
  birth: bigint;
  /** The record is sealed (AES-256-GCM): inside a sealed node this bit is authenticated, so an unsealed forgery is refused. */
  sealed?: boolean;
}

export const NULL_PTR: BlockPtr = { state: ExtentState.None, seg: 0, off: 0, len: 0, checksum: 0n, birth: 0n };

export function zeroPtr(birth: bigint): BlockPtr {
  return { state: ExtentState.Zero, seg: 0, off: 0, len: 0, checksum: 0n, birth };
}

export function encodePtr(p: BlockPtr, out: Buffer = Buffer.alloc(PTR_SIZE), at = 0): Buffer {
  out[at] = p.state;
  out[at + 1] = p.sealed ? 1 : 0; out[at + 2] = 0; out[at + 3] = 0;
  out.writeUInt32LE(p.seg, at + 4);
  out.writeUInt32LE(p.off, at + 8);
  out.writeUInt32LE(p.len, at + 12);
  putU64LE(out, at + 16, p.checksum);
  putU64LE(out, at + 24, p.birth);
  return out;
}

export function decodePtr(b: Buffer, at = 0): BlockPtr {
  if (b.length < at + PTR_SIZE) throw new VdfsError('CORRUPT', 'truncated block pointer');
  const state = b[at] as ExtentState;
  if (state > ExtentState.Present) throw new VdfsError('CORRUPT', `bad extent state ${state}`);
  if (b[at + 1] > 1) throw new VdfsError('CORRUPT', `bad block pointer flags ${b[at + 1]}`);
  return {
    sealed: b[at + 1] === 1,
    state,
    seg: b.readUInt32LE(at + 4),
    off: b.readUInt32LE(at + 8),
    len: b.readUInt32LE(at + 12),
    checksum: getU64LE(b, at + 16),
    birth: getU64LE(b, at + 24),
  };
}
