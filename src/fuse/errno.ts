/** The only place vdfs error codes become errno values (negated for fuse-native callbacks). */
import { isVdfsError, type ErrorCode } from '../errors.js';

const ERRNO: Record<ErrorCode, number> = {
  NOT_FOUND: 2, EXISTS: 17, NOT_EMPTY: 39, NOT_DIR: 20, IS_DIR: 21, INVALID: 22, NAME_TOO_LONG: 36,
  CHECKSUM: 5, CORRUPT: 5, AUTH: 5, KEY: 5, IO: 5, NO_DATASTORE: 5, BAD_SUPERBLOCK: 5, READ_ONLY: 30, NO_SPACE: 28,
  TOO_BIG: 27, BUSY: 16, NOT_SUPPORTED: 1, BAD_HANDLE: 9, UNAVAILABLE: 6, PAST_END: 6,
};
export const EIO = -5;
export const ETIMEDOUT = -110;
export const EPERM = -1;
export const EEXIST = -17;
export const EINVAL = -22;
export const ENOSYS = -38;
export const EOPNOTSUPP = -95;

/** A negative errno for any thrown value; unknown errors are EIO. */
export function toErrno(e: unknown): number {
  return isVdfsError(e) ? -ERRNO[e.code] : EIO;
}
