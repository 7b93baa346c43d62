import { DuplicateIdempotencyKeyError, MissingReferenceError, StorageError } from '../errors.js';

/**
 * better-sqlite3's errors, as store errors. Constraint violations that the services expect
 * keep their meaning; everything else the driver throws (SQLITE_FULL, SQLITE_IOERR, a busy
 * lock past the timeout, a closed connection, a refusing trigger) is a StorageError.
 */
export function toStoreError(error: unknown): Error {
  if (error instanceof StorageError || error instanceof DuplicateIdempotencyKeyError || error instanceof MissingReferenceError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' && message.includes('idempotency_key')) return new DuplicateIdempotencyKeyError();
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new MissingReferenceError(message);
  return new StorageError(`the database refused the operation (${typeof code === 'string' ? code : 'error'}): ${message}`, { cause: error });
}

/** Runs a synchronous driver call, translating its errors. */
export function guarded<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toStoreError(error);
  }
}
