import { DuplicateIdempotencyKeyError, StorageError } from '../errors.js';

/**
 * better-sqlite3's errors, as store errors. Constraint violations that the services expect
 * keep their meaning; refusals the database may not repeat later (SQLITE_FULL, SQLITE_IOERR,
 * a lock held past the busy timeout, a refusing trigger) are StorageErrors.
 */
export function toStoreError(error: unknown): Error {
  if (error instanceof StorageError || error instanceof DuplicateIdempotencyKeyError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' && message.includes('idempotency_key')) return new DuplicateIdempotencyKeyError();
  if (typeof code === 'string' && REFUSALS.some((prefix) => code.startsWith(prefix))) {
    return new StorageError(`the database refused the operation (${code}): ${message}`, { cause: error });
  }
  // Anything else (a missing table, a closed connection) is a bug or a broken deployment: unexpected.
  return error instanceof Error ? error : new Error(message);
}

/**
 * The driver's codes for a database that refuses work it would do another time: a full disk,
 * an I/O error, a lock held too long, a read-only file, no memory, and a trigger that refuses
 * the write (how an operator, or a test, fences a table).
 */
const REFUSALS = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY', 'SQLITE_NOMEM', 'SQLITE_CANTOPEN', 'SQLITE_CONSTRAINT_TRIGGER'];

/** Runs a synchronous driver call, translating its errors. */
export function guarded<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toStoreError(error);
  }
}
