/** A codec worker thread: encodes jobs of data blocks (see pool.ts for the messages). */
import { parentPort } from 'node:worker_threads';
import { initChecksum } from './checksum.js';
import { encodeBlock, slotOf } from './block-codec.js';
import type { JobReply, JobRequest } from './pool.js';
import type { RecordKind } from './record.js';

const ready = initChecksum();
const port = parentPort!; // this module only runs as a worker

port.on('message', (m: JobRequest) => {
  ready.then(() => {
    const uuid = Buffer.from(m.uuid);
    const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    const slot = m.slot && { epoch: Buffer.from(m.slot.epoch), key: Buffer.from(m.slot.key), counter: m.slot.counter };
    let at = 0;
    const recs = m.metas.map(([kind, owner, key, birth], i) => {
      const plain = data.subarray(at, at + m.lens[i]);
      at += m.lens[i];
      return encodeBlock({ kind: kind as RecordKind, owner, key, birth }, plain,
        { compress: m.compress, level: m.level, uuid, slot: slotOf(slot, m.seal[i], i) });
    });
    const out = new Uint8Array(recs.reduce((a, r) => a + r.bytes.length, 0));
    at = 0;
    for (const r of recs) { out.set(r.bytes, at); at += r.bytes.length; }
    const reply: JobReply = { id: m.id, out, lens: recs.map((r) => r.bytes.length), checksums: recs.map((r) => r.checksum) };
    port.postMessage(reply, [out.buffer]);
  }).catch((e: unknown) => port.postMessage({ id: m.id, error: String(e) } satisfies JobReply));
});
