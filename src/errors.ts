/**
 * Expected errors, as the domain knows them: a contract code, a message for the client, and
 * details that become `extensions`. They know nothing of GraphQL; src/graphql-errors.ts turns
 * them into GraphQL errors. Anything else thrown is unexpected and reaches clients masked.
 */

export type ErrorCode = 'BAD_USER_INPUT' | 'NOT_FOUND' | 'THREAD_BUSY' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'RATE_LIMITED' | 'STORAGE_ERROR' | 'UNAVAILABLE';

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export class NotFoundError extends AppError {
  constructor(
    readonly what: string,
    readonly id: string,
  ) {
    super('NOT_FOUND', `No ${what} with id "${id}".`);
  }
}

export class BadUserInputError extends AppError {
  constructor(field: string, problem: string) {
    super('BAD_USER_INPUT', `${field}: ${problem}`, { field });
  }
}

export class ThreadBusyError extends AppError {
  constructor(threadId: string, runId: string) {
    super(
      'THREAD_BUSY',
      `Thread "${threadId}" has an active run ("${runId}"). Wait for it, cancel it, or send with onActiveRun: ENQUEUE or INTERRUPT.`,
      { activeRunId: runId },
    );
  }
}

export class UnauthenticatedError extends AppError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

export class RateLimitedError extends AppError {
  /** Whole seconds to wait, also sent as the Retry-After header on HTTP. */
  readonly retryAfter: number;

  constructor(what: string, retryAfterMs: number) {
    const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super('RATE_LIMITED', `Too many ${what}; retry after ${retryAfter} s.`, { retryAfter });
    this.retryAfter = retryAfter;
  }
}

/** The database refused a write (disk full, I/O error): nothing of the request was stored; retry later. */
export class StorageUnavailableError extends AppError {
  constructor() {
    super('STORAGE_ERROR', 'The database refused the write (for example, the disk is full); nothing was stored. Retry later.', { retryable: true });
  }
}

/** A request that arrived while the server stops: another instance (or this one restarted) will take it. */
export class ShuttingDownError extends AppError {
  /** Whole seconds to wait, also sent as the Retry-After header on HTTP. */
  readonly retryAfter: number;

  constructor(retryAfterSeconds: number) {
    const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds));
    super('UNAVAILABLE', 'The server is shutting down.', { retryAfter });
    this.retryAfter = retryAfter;
  }
}
