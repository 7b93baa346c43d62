import { GraphQLError } from 'graphql';

/**
 * Expected errors, each with the contract's `extensions.code`. Anything else thrown reaches
 * yoga's error masking and the client sees only "Unexpected error.".
 */

export class NotFoundError extends GraphQLError {
  constructor(what: string, id: string) {
    super(`No ${what} with id "${id}".`, { extensions: { code: 'NOT_FOUND' } });
  }
}

export class BadUserInputError extends GraphQLError {
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`, { extensions: { code: 'BAD_USER_INPUT', field } });
  }
}

export class ThreadBusyError extends GraphQLError {
  constructor(threadId: string, runId: string) {
    super(`Thread "${threadId}" has an active run ("${runId}"). Wait for it, cancel it, or send with onActiveRun: ENQUEUE or INTERRUPT.`, {
      extensions: { code: 'THREAD_BUSY', activeRunId: runId },
    });
  }
}

export class UnauthenticatedError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'www-authenticate': 'Bearer' } } } });
  }
}

export class RateLimitedError extends GraphQLError {
  constructor(what: string, retryAfterMs: number) {
    const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(`Too many ${what}; retry after ${retryAfter} s.`, {
      extensions: { code: 'RATE_LIMITED', retryAfter, http: { headers: { 'retry-after': String(retryAfter) } } },
    });
  }
}
