/**
 * A layout turns "bytes of segment S" and "bytes of the header region" into target I/O.
 * Issue 2 has the `single` layout; mirror and EC layouts implement the same interface.
 */
import { LIMITS } from '../limits.js';
import type { Target } from './target.js';

export interface Layout {
  readonly name: string;
  readHeader(off: number, len: number): Promise<Buffer>;
  writeHeader(off: number, data: Buffer): Promise<void>;
  readSeg(seg: number, off: number, len: number): Promise<Buffer>;
  writeSeg(seg: number, off: number, data: Buffer): Promise<void>;
  sync(): Promise<void>;
  /** Bytes stored now, and bytes the layout could still grow by. */
  space(): Promise<{ size: number; available: number }>;
  close(): Promise<void>;
}

export class SingleLayout implements Layout {
  readonly name = 'single';
  constructor(readonly target: Target, private segmentSize: number) {}
  private segBase(seg: number): number { return LIMITS.HEADER_REGION + seg * this.segmentSize; }
  readHeader(off: number, len: number) { return this.target.read(off, len); }
  writeHeader(off: number, data: Buffer) { return this.target.write(off, data); }
  readSeg(seg: number, off: number, len: number) { return this.target.read(this.segBase(seg) + off, len); }
  writeSeg(seg: number, off: number, data: Buffer) { return this.target.write(this.segBase(seg) + off, data); }
  sync() { return this.target.sync(); }
  async space() { return { size: await this.target.size(), available: await this.target.available() }; }
  close() { return this.target.close(); }
}
