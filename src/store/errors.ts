/**
 * What a store throws besides its rows. Services turn these into domain outcomes: a refused
 * write becomes STORAGE_ERROR (a run's error code, or the request's), a duplicate idempotency
 * key means "this send was already stored".
 */

/** The database refused a write or a read (disk full, I/O error, closed): nothing of it was stored. */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/**
 * The COMMIT was sent but its outcome is unknown (the connection died before the reply): the
 * transaction may have been stored. A writer must not give its batch back or reuse the seqs.
 */
export class CommitUnknownError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommitUnknownError';
  }
}

/** A message with this (thread, idempotency key), or a /v1 run with this (owner, idempotency key), exists already. */
export class DuplicateIdempotencyKeyError extends Error {
  constructor() {
    super('a message with this idempotency key exists on this thread');
    this.name = 'DuplicateIdempotencyKeyError';
  }
}

