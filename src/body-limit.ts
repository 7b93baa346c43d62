import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/**
 * Refuses request bodies over `maxBytes` with HTTP 413 before GraphQL parses anything: a
 * declared Content-Length at once, a chunked body as soon as its running size passes the limit.
 */
export function limitBodySize(maxBytes: number, next: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBytes) return refuse(res, req, maxBytes);
    if (req.headers['transfer-encoding']) {
      let received = 0;
      // A 'data' listener sees every chunk however the handler reads the stream.
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes && !res.headersSent) refuse(res, req, maxBytes);
      });
    }
    next(req, res);
  };
}

function refuse(res: ServerResponse, req: IncomingMessage, maxBytes: number): void {
  const body = JSON.stringify({
    errors: [{ message: `The request body is larger than the limit of ${maxBytes} bytes.`, extensions: { code: 'BAD_USER_INPUT', limit: maxBytes } }],
  });
  res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
  res.end(body);
  req.resume();
  res.once('finish', () => req.destroy());
}
