/** Typed errors with stable codes. Only src/fuse/ turns them into errno values. */
export type ErrorCode =
  | 'NOT_FOUND' | 'EXISTS' | 'NOT_EMPTY' | 'NOT_DIR' | 'IS_DIR' | 'INVALID'
  | 'NAME_TOO_LONG' | 'CHECKSUM' | 'CORRUPT' | 'NO_DATASTORE' | 'BAD_SUPERBLOCK'
  | 'READ_ONLY' | 'NO_SPACE' | 'TOO_BIG' | 'IO' | 'BUSY' | 'NOT_SUPPORTED' | 'BAD_HANDLE'
  | 'AUTH' | 'KEY' | 'UNAVAILABLE' | 'PAST_END';

export class VdfsError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'VdfsError';
  }
}

export const fail = (code: ErrorCode, message: string): never => {
  throw new VdfsError(code, message);
};

export const isVdfsError = (e: unknown, code?: ErrorCode): e is VdfsError =>
  e instanceof VdfsError && (code === undefined || e.code === code);
