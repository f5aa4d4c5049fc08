/**
 * Sealing a record's payload: AES-256-GCM (node:crypto) with the record's identity as
 * associated data.
 *
 * Sealed payload:
 * | off    | size | field      | meaning                                                  |
 * |--------|------|------------|----------------------------------------------------------|
 * |      0 |   16 | epoch      | random id of the key epoch that sealed it                |
 * |     16 |   12 | nonce      | u32 0 + u64 BE counter, unique within the epoch          |
 * |     28 |    n | ciphertext | the (possibly compressed) payload                        |
 * | 28 + n |   16 | tag        | GCM authentication tag                                   |
 *
 * Associated data (48 bytes, never stored): datastore uuid (16) · kind (1) · codec (1) ·
 * zero (2) · logicalLen (u32 LE) · owner (u64 LE: inode or tree id) · key (u64 LE: block number
 * or level) · birth (u64 LE: the transaction group). It is built from the record's header after
 * the header was checked against what the reader's pointer expects (kind, owner, block number,
 * birth), so a record copied to another file, block, time or datastore fails authentication,
 * as does any changed byte; the pointer also says whether the record must be sealed.
 *
 * Keys: the key file holds a 32-byte master key, which is never stored. The superblock keeps
 * keyCheck = HKDF-SHA256(master, salt = uuid, info = "vdfs key check v3"), which proves a key
 * right without revealing it. Each epoch's key is HKDF-SHA256(master, salt = uuid,
 * info = "vdfs data v3" · epoch). A process opens a new random epoch when it starts and after
 * SEAL_RECORDS_PER_EPOCH records, and counts nonces up from 0 in memory — so a nonce never
 * repeats under one key, crashes included (a restarted process never reuses an epoch).
 * Superblock and commit records are signed with HMAC-SHA256 under
 * HKDF-SHA256(master, salt = uuid, info = "vdfs mac v3").
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { open } from 'node:fs/promises';
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';
import type { RecordMeta } from './record.js';
import { putU64BE, putU64LE } from './u64.js';

export const KEY_BYTES = 32;
const EPOCH_BYTES = 16, NONCE_BYTES = 12, TAG_BYTES = 16;
export const SEAL_OVERHEAD = EPOCH_BYTES + NONCE_BYTES + TAG_BYTES;
const AAD_BYTES = 48;

const hkdf = (master: Buffer, uuid: Buffer, info: Buffer): Buffer => Buffer.from(hkdfSync('sha256', master, uuid, info, KEY_BYTES));

/** A key from a key file's bytes: 32 raw bytes, or 64 hex digits (a trailing newline allowed). */
export function parseKey(bytes: Buffer, where: string): Buffer {
  const text = bytes.toString('latin1').replace(/\r?\n$/, '');
  const own = (b: Buffer) => { const k = Buffer.alloc(KEY_BYTES); b.copy(k); return k; }; // never a slice of the shared pool
  if (/^[0-9a-fA-F]{64}$/.test(text)) return own(Buffer.from(text, 'hex'));
  if (bytes.length === KEY_BYTES) return own(bytes);
  throw new VdfsError('KEY', `key file ${where} holds ${bytes.length} bytes; a key is ${KEY_BYTES} raw bytes or ${KEY_BYTES * 2} hex digits`);
}

/** Reads at most KEY_FILE_MAX_BYTES (a device or a huge file is refused, not read to its end). */
export async function readKeyFile(path: string): Promise<Buffer> {
  const fail = (e: NodeJS.ErrnoException): never => { throw new VdfsError('KEY', `cannot read key file ${path}: ${e.code ?? e.message}`); };
  const fh = await open(path, 'r').catch(fail);
  try {
    const buf = Buffer.alloc(LIMITS.KEY_FILE_MAX_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0).catch(fail);
    if (bytesRead > LIMITS.KEY_FILE_MAX_BYTES) throw new VdfsError('KEY', `key file ${path} holds over ${LIMITS.KEY_FILE_MAX_BYTES} bytes; a key is ${KEY_BYTES} raw bytes or ${KEY_BYTES * 2} hex digits`);
    return parseKey(buf.subarray(0, bytesRead), path);
  } finally { await fh.close(); }
}

export const keyCheckOf = (master: Buffer, uuid: Buffer): Buffer => hkdf(master, uuid, Buffer.from('vdfs key check v3'));
const epochKeyOf = (master: Buffer, uuid: Buffer, epoch: Buffer): Buffer =>
  hkdf(master, uuid, Buffer.concat([Buffer.from('vdfs data v3'), epoch]));
const macKeyOf = (master: Buffer, uuid: Buffer): Buffer => hkdf(master, uuid, Buffer.from('vdfs mac v3'));

/** Whether `mac` signs `bytes` under the MAC key of `master` (constant time). */
export function macHolds(master: Buffer, uuid: Buffer, bytes: Buffer, mac: Buffer): boolean {
  return timingSafeEqual(createHmac('sha256', macKeyOf(master, uuid)).update(bytes).digest(), mac);
}

/** Whether `master` is the key whose check the superblock holds. */
export function keyMatches(master: Buffer, uuid: Buffer, check: Buffer): boolean {
  return timingSafeEqual(keyCheckOf(master, uuid), check);
}

export function sealAad(uuid: Buffer, m: RecordMeta, codec: number, logicalLen: number): Buffer {
  const a = Buffer.alloc(AAD_BYTES);
  uuid.copy(a, 0, 0, 16);
  a[16] = m.kind; a[17] = codec;
  a.writeUInt32LE(logicalLen, 20);
  putU64LE(a, 24, m.owner); putU64LE(a, 32, m.key); putU64LE(a, 40, m.birth);
  return a;
}

/** One record's sealing: its epoch, that epoch's key and its nonce counter. */
export interface SealSlot { epoch: Buffer; key: Buffer; counter: bigint }

export function seal(slot: SealSlot, aad: Buffer, plain: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(SEAL_OVERHEAD + plain.length);
  slot.epoch.copy(out, 0);
  const nonce = out.subarray(EPOCH_BYTES, EPOCH_BYTES + NONCE_BYTES);
  nonce.writeUInt32BE(0, 0); putU64BE(nonce, 4, slot.counter);
  const c = createCipheriv('aes-256-gcm', slot.key, nonce);
  c.setAAD(aad);
  const at = EPOCH_BYTES + NONCE_BYTES;
  const n = c.update(plain).copy(out, at);
  c.final().copy(out, at + n);
  c.getAuthTag().copy(out, out.length - TAG_BYTES);
  return out;
}

/** Opens a sealed payload; any mismatch is AUTH (never wrong bytes). */
export function unseal(keyOf: (epoch: Buffer) => Buffer, aad: Buffer, sealed: Buffer): Buffer {
  if (sealed.length < SEAL_OVERHEAD) throw new VdfsError('AUTH', 'sealed payload shorter than its framing');
  const epoch = sealed.subarray(0, EPOCH_BYTES);
  const nonce = sealed.subarray(EPOCH_BYTES, EPOCH_BYTES + NONCE_BYTES);
  const d = createDecipheriv('aes-256-gcm', keyOf(epoch), nonce);
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    const out = d.update(sealed.subarray(EPOCH_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES));
    d.final(); // GCM: checks the tag, returns no bytes
    return out;
  } catch {
    throw new VdfsError('AUTH', 'record fails authentication (tampered, misplaced, or sealed under another key)');
  }
}

/**
 * The key material of one open datastore: the master key (in memory only), the current epoch
 * and its counter, and a bounded cache of epoch keys for reading.
 */
export class KeyRing {
  private epoch = randomBytes(EPOCH_BYTES);
  private key: Buffer;
  private counter = 0n;
  private cache = new Map<string, Buffer>();
  private macKey: Buffer;

  constructor(private master: Buffer, private uuid: Buffer) {
    this.key = epochKeyOf(master, uuid, this.epoch);
    this.macKey = macKeyOf(master, uuid);
  }

  get check(): Buffer { return keyCheckOf(this.master, this.uuid); }

  /** HMAC-SHA256 of a superblock or commit record. */
  readonly mac = (bytes: Buffer): Buffer => createHmac('sha256', this.macKey).update(bytes).digest();

  /** Whether `mac` is the MAC of `bytes` (constant time). */
  macHolds(bytes: Buffer, mac: Buffer): boolean { return timingSafeEqual(this.mac(bytes), mac); }

  /** Reserves n consecutive nonces of one epoch (a new epoch when this one cannot take n more). */
  reserve(n: number): SealSlot {
    if (this.counter + BigInt(n) > LIMITS.SEAL_RECORDS_PER_EPOCH) {
      this.epoch = randomBytes(EPOCH_BYTES);
      this.key = epochKeyOf(this.master, this.uuid, this.epoch);
      this.counter = 0n;
    }
    const slot = { epoch: this.epoch, key: this.key, counter: this.counter };
    this.counter += BigInt(n);
    return slot;
  }

  readonly keyOf = (epoch: Buffer): Buffer => {
    if (epoch.equals(this.epoch)) return this.key;
    const id = epoch.toString('hex');
    let k = this.cache.get(id);
    if (!k) {
      k = epochKeyOf(this.master, this.uuid, Buffer.from(epoch));
      if (this.cache.size >= LIMITS.EPOCH_KEYS_CACHED) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(id, k);
    }
    return k;
  };
}
