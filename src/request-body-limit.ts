import type { Readable } from 'node:stream';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * MAX_BODY_BYTES for GraphQL requests, declared (Content-Length) or chunked: 413 before
 * GraphQL parses anything, with yoga's own errors (graphql-errors.ts turns them into the
 * contract's). yoga's maxRequestBodySize does the same by piping every body through a
 * TransformStream into a second Request; that pipeline's listeners stay on the node request
 * until its response ends — for an SSE subscription, until it closes: about 10 KB of heap per
 * idle subscription (bench/heap-breakdown.ts). Here the body is read chunk by chunk, counted,
 * into one buffer the parser reads, and nothing of the read outlives it.
 */
export function useRequestBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const contentLength = request.headers.get('content-length');
      if (contentLength != null) {
        // Only a single non-negative integer (yoga's rule: a list of them is a smuggling attempt).
        if (!/^\d+$/.test(contentLength)) throw invalidContentLength();
        if (Number(contentLength) > limit) throw tooLarge();
      }
      if (requestParser == null || request.body == null) return;
      const parse = requestParser;
      setRequestParser(async (req) => {
        // The ponyfill's ReadableStream (yoga's fetch API): async-iterable, over Node's stream (`readable`).
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
      throw tooLarge();
    }
    chunks.push(step.value);
  }
}

function tooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } });
}

function invalidContentLength(): GraphQLError {
  return new GraphQLError('Content-Length header is invalid.', { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });
}
