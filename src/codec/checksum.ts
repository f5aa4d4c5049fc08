/** xxhash64 via xxhash-wasm. `initChecksum()` must have resolved before `xxh64` is called. */
import xxhash from 'xxhash-wasm';

type Api = Awaited<ReturnType<typeof xxhash>>;
let api: Api | null = null;
let h64Raw: Api['h64Raw'] | null = null;

export async function initChecksum(): Promise<void> {
  if (api) return;
  api = await xxhash();
  h64Raw = api.h64Raw;
}

/** A streaming xxhash64 (for hashing a whole log extent as it is appended). */
export interface StreamHash { update(data: Uint8Array): StreamHash; digest(): bigint }
export function streamXxh64(): StreamHash {
  if (!api) throw new Error('initChecksum() was not awaited');
  return api.create64(0n) as unknown as StreamHash;
}

export function xxh64(data: Uint8Array, seed = 0n): bigint {
  if (!h64Raw) throw new Error('initChecksum() was not awaited');
  return h64Raw(data, seed);
}
