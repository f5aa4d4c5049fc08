/**
 * Reading a sealed segment without the trees: records follow each other inside an extent and
 * extents start on TXG_ALIGN boundaries, so a walk by record headers finds every record; where
 * bytes do not parse (the gap after an extent, or what an earlier use of the segment left), the
 * walk resumes at the next boundary. Each record found is verified by its checksum. Whether it
 * is still live is for the caller to decide against the trees (stale records parse too).
 */
import { decodeRecord, DecodedRecord, peekRecordLength, RECORD_HEADER, RecordKind } from '../codec/record.js';
import { LIMITS } from '../limits.js';

export interface FoundRecord extends DecodedRecord { off: number; len: number }

export function scanSegment(bytes: Buffer): FoundRecord[] {
  const out: FoundRecord[] = [];
  const next = (at: number) => (Math.floor(at / LIMITS.TXG_ALIGN) + 1) * LIMITS.TXG_ALIGN;
  for (let at = 0; at + RECORD_HEADER <= bytes.length;) {
    let len: number;
    try { len = peekRecordLength(bytes.subarray(at)); } catch { at = next(at); continue; }
    if (at + len > bytes.length) { at = next(at); continue; }
    try {
      const r = decodeRecord(bytes.subarray(at, at + len));
      if (r.kind !== RecordKind.Summary) out.push({ ...r, off: at, len });
      at += len;
    } catch {
      at = next(at);
    }
  }
  return out;
}
