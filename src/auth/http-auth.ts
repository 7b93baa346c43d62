import type { Plugin } from 'graphql-yoga';
import { AppError, StorageUnavailableError } from '../errors.js';
import { StorageError } from '../store/errors.js';
import { httpHeadersOf, httpStatusOf } from '../graphql-errors.js';
import type { AccessControl, Caller } from './access.js';

/**
 * Authenticates every HTTP request (queries, mutations, SSE subscriptions) before GraphQL runs,
 * and counts it against the owner's request limit. Only the GraphiQL page itself, when it is
 * enabled, needs no key: it holds no data, and the operations it sends carry their own.
 */
export function useHttpAuth(
  access: AccessControl,
  callers: WeakMap<Request, Caller>,
  /** onUnexpected logs the error and answers the request's id, which the 500 names. */
  options: { graphiql: boolean; onUnexpected: (error: unknown, request: Request) => string },
): Plugin {
  return {
    async onRequest({ request, url, endResponse }) {
      if (request.method === 'OPTIONS') return;
      const wantsGraphiQL = request.method === 'GET' && request.headers.get('accept')?.includes('text/html') && !url.searchParams.has('query');
      if (options.graphiql && wantsGraphiQL) return;
      try {
        const caller = await access.authenticate(request.headers.get('authorization'));
        await access.admitRequest(caller.owner);
        callers.set(request, caller);
      } catch (error) {
        // Refusals are the caller's business; anything else (a database failure) is ours.
        if (error instanceof AppError) return endResponse(errorResponse(error));
        const requestId = options.onUnexpected(error, request);
        // The database did not answer the key lookup: retryable, like any other refused read (503: before GraphQL runs).
        if (error instanceof StorageError) return endResponse(errorResponse(new StorageUnavailableError(), 503));
        endResponse(json(500, { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId } }));
      }
    },
  };
}

function errorResponse(error: AppError, status = httpStatusOf(error)): Response {
  return json(status, { message: error.message, extensions: { code: error.code, ...error.details } }, httpHeadersOf(error));
}

function json(status: number, error: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ errors: [error] }), { status, headers: { 'content-type': 'application/json', ...headers } });
}
