import { AppError, NotFoundError, RateLimitedError, ShuttingDownError } from '../errors.js';
import { StorageError } from '../store/errors.js';

/**
 * Errors as the Assistants API sent them: `{ error: { message, type, code, param } }` with
 * application/json, so that the SDK raises its classes (400 BadRequestError, 401
 * AuthenticationError, 404 NotFoundError, 429 RateLimitError…) with OpenAI's fields. A busy
 * thread is 400 (a 409 would make the SDK retry it).
 */

/** A stream's events ended before its run did; the run can be polled, or streamed again, later. */
export class StreamEndedError extends Error {
  constructor() {
    super('The stream ended before the run did (the server may be shutting down); retrieve the run to follow it.');
    this.name = 'StreamEndedError';
  }
}

export interface WireError {
  status: number;
  message: string;
  type: string;
  code: string | null;
  param: string | null;
  headers?: Record<string, string>;
}

/** What the request was doing, for OpenAI's wording of a busy thread. */
export type BusyContext = 'run' | 'message';

/** A field path as the caller sent it: services name fields in camelCase (`toolOutputs[0].toolCallId`). */
export const snakeParam = (field: string) => field.replace(/^\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function invalid(param: string | null, message: string, status = 400): WireError {
  return { status, message, type: 'invalid_request_error', code: null, param };
}

export function toWireError(error: unknown, busy: BusyContext, onUnexpected: (error: unknown) => void): WireError {
  if (error instanceof StorageError) {
    onUnexpected(error);
    return { status: 503, message: 'The database refused the write (for example, the disk is full); nothing was stored. Retry later.', type: 'server_error', code: 'storage_error', param: null };
  }
  if (error instanceof StreamEndedError) return { status: 503, message: error.message, type: 'server_error', code: 'stream_ended', param: null };
  if (!(error instanceof AppError)) {
    onUnexpected(error);
    return { status: 500, message: 'Unexpected error.', type: 'server_error', code: null, param: null, headers: { 'x-should-retry': 'false' } };
  }
  switch (error.code) {
    case 'BAD_USER_INPUT': {
      const field = typeof error.details.field === 'string' ? snakeParam(error.details.field) : null;
      return invalid(field, error.message);
    }
    case 'NOT_FOUND':
      return error instanceof NotFoundError ? invalid(null, `No ${error.what} found with id '${error.id}'.`, 404) : invalid(null, error.message, 404);
    case 'THREAD_BUSY': {
      const threadId = /"([^"]+)"/.exec(error.message)?.[1] ?? '';
      const runId = String(error.details.activeRunId ?? '');
      return invalid(null, busy === 'message' ? `Can't add messages to ${threadId} while a run ${runId} is active.` : `Thread ${threadId} already has an active run ${runId}.`);
    }
    case 'UNAUTHENTICATED':
      return { status: 401, message: error.message, type: 'invalid_request_error', code: 'invalid_api_key', param: null, headers: { 'www-authenticate': 'Bearer' } };
    case 'FORBIDDEN':
      return { status: 403, message: error.message, type: 'invalid_request_error', code: 'forbidden', param: null };
    case 'RATE_LIMITED': {
      const retryAfter = error instanceof RateLimitedError ? error.retryAfter : 1;
      return { status: 429, message: error.message, type: 'requests', code: 'rate_limit_exceeded', param: null, headers: { 'retry-after': String(retryAfter) } };
    }
    case 'STORAGE_ERROR':
      return { status: 503, message: error.message, type: 'server_error', code: 'storage_error', param: null };
    case 'UNAVAILABLE': {
      const retryAfter = error instanceof ShuttingDownError ? error.retryAfter : 1;
      return { status: 503, message: error.message, type: 'server_error', code: 'unavailable', param: null, headers: { 'retry-after': String(retryAfter) } };
    }
  }
}

export function errorBody(e: WireError) {
  return { error: { message: e.message, type: e.type, code: e.code, param: e.param } };
}

export function errorResponse(e: WireError): Response {
  return new Response(JSON.stringify(errorBody(e)), { status: e.status, headers: { 'content-type': 'application/json', ...e.headers } });
}
