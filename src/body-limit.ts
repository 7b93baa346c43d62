import { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * MAX_BODY_BYTES for GraphQL requests: a declared (Content-Length) body over the limit is
 * refused before it is read, a chunked one as soon as it grows past it — 413 before GraphQL
 * parses anything, as yoga's own `maxRequestBodySize` does. That one, though, pipes every body
 * through a TransformStream into a new Request (a stream pipeline, an AbortSignal and its
 * abort, per request: ~8 % of a small query's CPU). A body that came over node:http with a
 * Content-Length needs no such counting: Node's parser delivers exactly that many bytes (and
 * refuses a request that also says Transfer-Encoding), so only the declared length is checked.
 * Everything else — chunked bodies, requests handed to `yoga.fetch` — is counted as yoga does.
 *
 * Must come after every plugin that picks a request parser (it wraps the one chosen), which is
 * where yoga itself places its own; createApp passes `maxRequestBodySize: false` for it.
 */
export function useRequestBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, serverContext, fetchAPI }) {
      const contentLength = request.headers.get('content-length');
      if (contentLength != null) {
        // One non-negative integer, nothing else (comma-joined values are a smuggling attempt).
        if (!/^\d+$/.test(contentLength)) throw invalidContentLength();
        if (Number(contentLength) > limit) throw bodyTooLarge();
        if ((serverContext as { req?: unknown } | undefined)?.req instanceof IncomingMessage) return;
      }
      if (requestParser == null || request.body == null) return;
      const parse = requestParser;
      setRequestParser((req) => parse(counted(req, limit, fetchAPI)));
    },
  };
}

type FetchAPI = { Request: typeof Request; TransformStream: typeof TransformStream };

/** The request with a body that fails once more than `limit` bytes have passed (yoga's way). */
function counted(request: Request, limit: number, fetchAPI: FetchAPI): Request {
  // A native body stream needs the native TransformStream (yoga's workaround, graphql-yoga#4583).
  const Transform = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  let bytes = 0;
  const body = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        if (bytes > limit) controller.error(bodyTooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body, duplex: 'half' } as RequestInit);
}

/** yoga's own errors, so that the masker (graphql-errors.ts) answers them as before. */
function bodyTooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } });
}

function invalidContentLength(): GraphQLError {
  return new GraphQLError('Content-Length header is invalid.', { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });
}
