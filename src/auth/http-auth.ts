import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { AccessControl, Caller } from './access.js';

/**
 * Authenticates every HTTP request (queries, mutations, SSE subscriptions) before GraphQL runs,
 * and counts it against the owner's request limit. The GraphiQL page itself needs no key (it
 * holds no data; the operations it sends do).
 */
export function useHttpAuth(access: AccessControl, callers: WeakMap<Request, Caller>, onUnexpected: (error: unknown) => void): Plugin {
  return {
    onRequest({ request, endResponse }) {
      if (request.method === 'GET' && request.headers.get('accept')?.includes('text/html')) return;
      if (request.method === 'OPTIONS') return;
      try {
        const caller = access.authenticate(request.headers.get('authorization'));
        access.takeRequest(caller.owner);
        callers.set(request, caller);
      } catch (error) {
        // Only refusals are the caller's business; anything else (a database failure) is ours.
        if (!(error instanceof GraphQLError)) {
          onUnexpected(error);
          endResponse(errorResponse(new GraphQLError('Unexpected error.', { extensions: { code: 'INTERNAL_SERVER_ERROR', http: { status: 500 } } })));
          return;
        }
        endResponse(errorResponse(error));
      }
    },
  };
}

function errorResponse(error: GraphQLError): Response {
  const http = (error.extensions?.http ?? {}) as { status?: number; headers?: Record<string, string> };
  const status = http.status ?? (error.extensions?.code === 'RATE_LIMITED' ? 429 : 401);
  const { http: _omit, ...extensions } = error.extensions ?? {};
  return new Response(JSON.stringify({ errors: [{ message: error.message, extensions }] }), {
    status,
    headers: { 'content-type': 'application/json', ...http.headers },
  });
}
