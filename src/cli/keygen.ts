/** `vdfs keygen FILE`: a new random 256-bit key, written as 64 hex digits, mode 0600, never over another file. */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { VdfsError } from '../errors.js';
import { KEY_BYTES } from '../codec/seal.js';

export async function writeKeyFile(path: string): Promise<void> {
  try {
    await writeFile(path, randomBytes(KEY_BYTES).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VdfsError(code === 'EEXIST' ? 'EXISTS' : 'IO', code === 'EEXIST' ? `${path} exists; a key is never overwritten` : `cannot write ${path}: ${code}`);
  }
}
