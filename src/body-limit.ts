import { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * MAX_BODY_BYTES for GraphQL requests: a declared (Content-Length) body over the limit is
 * refused before it is read, a chunked one as soon as it grows past it — 413 before GraphQL
 * parses anything, as yoga's own `maxRequestBodySize` does. That one, though, pipes every body
 * through a TransformStream into a new Request (a stream pipeline, an AbortSignal and its
 * abort, per request: ~8 % of a small query's CPU), and that pipeline's listeners stay on the
 * node request until its response ends — for an SSE subscription, until it closes: ~10 KB of
 * heap per idle subscription (bench/heap-breakdown.ts). A body that came over node:http with a
 * Content-Length needs no counting: Node's parser delivers exactly that many bytes (and refuses
 * a request that also says Transfer-Encoding), so only the declared length is checked.
 * Everything else (chunked bodies, requests handed to `yoga.fetch`) is read chunk by chunk,
 * counted, into one buffer the parser reads; nothing of the read outlives it.
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
      setRequestParser(async (req) => {
        // The ponyfill's ReadableStream (yoga's fetch API) is async-iterable, over Node's stream (`readable`).
        const body = await readAtMost(req.body as unknown as AsyncIterable<Uint8Array> & { readable?: Readable }, limit);
        return parse(new fetchAPI.Request(req.url, { method: req.method, headers: req.headers, signal: req.signal, body: body as unknown as BodyInit }));
      });
    },
  };
}

/**
 * The whole body, or REQUEST_ENTITY_TOO_LARGE as soon as it passes `limit`. The rest is then
 * read and dropped as it comes (as yoga's pipeline did): destroying a node request destroys
 * its socket, so the 413 would never be sent; leaving it unread would stall the connection
 * for the client's next request on it.
 */
async function readAtMost(body: AsyncIterable<Uint8Array> & { readable?: Readable }, limit: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const reader = body[Symbol.asyncIterator]();
  for (;;) {
    const step = await reader.next();
    if (step.done) return Buffer.concat(chunks, bytes);
    bytes += step.value.byteLength;
    if (bytes > limit) {
      if (body.readable) body.readable.resume();
      else void reader.return?.();
      throw bodyTooLarge();
    }
    chunks.push(step.value);
  }
}

/** yoga's own errors, so that the masker (graphql-errors.ts) answers them as before. */
function bodyTooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } });
}

function invalidContentLength(): GraphQLError {
  return new GraphQLError('Content-Length header is invalid.', { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });
}
