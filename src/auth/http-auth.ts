import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { AccessControl, Caller } from './access.js';

/**
 * Authenticates every HTTP request (queries, mutations, SSE subscriptions) before GraphQL runs,
 * and counts it against the owner's request limit. The GraphiQL page itself needs no key (it
 * holds no data; the operations it sends do).
 */
export function useHttpAuth(access: AccessControl, callers: WeakMap<Request, Caller>): Plugin {
  return {
    onRequest({ request, endResponse }) {
      if (request.method === 'GET' && request.headers.get('accept')?.includes('text/html')) return;
      if (request.method === 'OPTIONS') return;
      try {
        const caller = access.authenticate(request.headers.get('authorization'));
        access.takeRequest(caller.owner);
        callers.set(request, caller);
      } catch (error) {
        endResponse(errorResponse(error as GraphQLError));
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
