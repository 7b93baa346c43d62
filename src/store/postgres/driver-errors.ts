import { DrizzleQueryError } from 'drizzle-orm/errors';
import { DuplicateIdempotencyKeyError, StorageError } from '../errors.js';

/**
 * node-postgres's errors, as store errors (the PostgreSQL side of ../sqlite/driver-errors.ts).
 * The idempotency index keeps its meaning; a database that cannot be reached or refuses work
 * it may do another time is a StorageError, so runs end STORAGE_ERROR and requests get
 * STORAGE_ERROR, never the SQL. Drizzle wraps driver errors in DrizzleQueryError (its message
 * holds the query): the driver's error is its cause.
 */
/** A message's (thread, key) and a /v1 run's (owner, key), as SQLite's driver-errors.ts matches them. */
const IDEMPOTENCY_INDEXES = new Set(['messages_idempotency_idx', 'runs_idempotency_idx']);

export function toStoreError(error: unknown): Error {
  if (error instanceof StorageError || error instanceof DuplicateIdempotencyKeyError) return error;
  const driver = error instanceof DrizzleQueryError && error.cause ? error.cause : error;
  const { code, constraint } = (driver ?? {}) as { code?: unknown; constraint?: unknown };
  const message = driver instanceof Error ? driver.message : String(driver);
  if (code === '23505' && IDEMPOTENCY_INDEXES.has(String(constraint))) return new DuplicateIdempotencyKeyError();
  if (typeof code === 'string' && isRefusal(code)) {
    return new StorageError(`the database refused the operation (${code}): ${message}`, { cause: driver });
  }
  if (code === undefined && CONNECTION_LOST.some((text) => message.includes(text))) {
    return new StorageError(`the database cannot be reached: ${message}`, { cause: driver });
  }
  // Anything else (a missing table, a syntax error) is a bug or a broken deployment: unexpected.
  return driver instanceof Error ? driver : new Error(message);
}

/**
 * SQLSTATE classes and codes of a database that refuses work it would do another time, and the
 * socket errors of one that cannot be reached: connection exceptions (08), insufficient
 * resources (53: disk full, out of memory, too many connections), operator intervention (57:
 * shutdown, a cancelled or timed-out statement), system and I/O errors (58), serialization
 * failures and deadlocks (40), data exceptions (22: a value PostgreSQL cannot store, such as
 * text holding U+0000; a StorageError, so a run ends STORAGE_ERROR, never stuck on an
 * "unexpected" error), a lock not available (55P03), a read-only transaction (25006), a
 * refused privilege (42501), and a trigger that raises (P0001: how an operator, or a test,
 * fences a table).
 */
const REFUSED_CLASSES = ['08', '53', '57', '58', '40', '22'];
const REFUSED_CODES = ['55P03', '25006', '42501', 'P0001'];
const SOCKET_CODES = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'];

function isRefusal(code: string): boolean {
  return REFUSED_CLASSES.includes(code.slice(0, 2)) || REFUSED_CODES.includes(code) || SOCKET_CODES.includes(code);
}

/** node-postgres's own messages (no code) when a connection dies or cannot be had in time. */
const CONNECTION_LOST = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Query read timeout',
];

/** Runs a driver call, translating its errors. */
export async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toStoreError(error);
  }
}
