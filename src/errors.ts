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
