import type { Plugin } from 'graphql-yoga';

/**
 * Refuses request bodies whose declared Content-Length is over the limit with HTTP 413,
 * before GraphQL parses anything.
 */
export function useBodyLimit(maxBytes: number): Plugin {
  return {
    onRequest({ request, endResponse }) {
      const declared = Number(request.headers.get('content-length') ?? 0);
      if (declared <= maxBytes) return;
      const error = { message: `Request body is ${declared} bytes; the limit is ${maxBytes} bytes.`, extensions: { code: 'PAYLOAD_TOO_LARGE' } };
      endResponse(new Response(JSON.stringify({ errors: [error] }), { status: 413, headers: { 'content-type': 'application/json' } }));
    },
  };
}
