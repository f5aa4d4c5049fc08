/** Path and name rules of the namespace. */
import { VdfsError } from '../errors.js';
import { LIMITS } from '../limits.js';

export function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p.length > 0);
}

export function checkName(name: string): void {
  if (Buffer.byteLength(name) > LIMITS.NAME_MAX) throw new VdfsError('NAME_TOO_LONG', 'name too long');
  if (name === '.' || name === '..' || name.includes('\0')) throw new VdfsError('INVALID', `bad name ${JSON.stringify(name)}`);
}
