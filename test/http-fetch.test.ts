import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isLeanResponse, leanFetch } from '../src/llm/http-fetch.js';

// The provider transport (src/llm/http-fetch.ts): fetch's answers and failures, connections kept.
let server: Server;
let base: string;
let connections = 0;
let closedResponses = 0;
let handler: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.on('close', () => !res.writableFinished && closedResponses++);
    handler(req, res);
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  server.closeAllConnections();
  connections = 0;
  closedResponses = 0;
});

const events = (n: number) => Array.from({ length: n }, (_, i) => `data: ${i}\n\n`).join('');
const post = (path: string, init: RequestInit = {}) =>
  leanFetch(`${base}${path}`, { method: 'POST', body: '{"a":1}', headers: new Headers({ 'content-type': 'application/json' }), ...init });

async function readAll(response: Response): Promise<string> {
  let text = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Buffer>) text += chunk.toString();
  return text;
}

describe('leanFetch', () => {
  it('sends method, headers and body; answers status, headers and the body; keeps the connection', async () => {
    const seen: Array<{ method?: string; type?: string; length?: string; body: string }> = [];
    handler = (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, type: req.headers['content-type'], length: req.headers['content-length'], body });
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-request-id': 'req_1' });
        res.end(events(3));
      });
    };
    for (let i = 0; i < 3; i++) {
      const response = await post('/v1/responses');
      expect(isLeanResponse(response)).toBe(true);
      expect(response.ok).toBe(true);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('req_1');
      expect(await readAll(response)).toBe(events(3));
    }
    expect(seen).toEqual(Array(3).fill({ method: 'POST', type: 'application/json', length: '7', body: '{"a":1}' }));
    expect(connections).toBe(1);
  });

  it('a reader that stops once a complete body is in leaves the connection to the next request', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end(events(50)));
    };
    for (let i = 0; i < 3; i++) {
      const response = await post('/');
      // Let the whole body arrive, then read one chunk and stop (the SDK's stream at its final event).
      await new Promise((resolve) => setTimeout(resolve, 20));
      const it = (response.body as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      await it.next();
      await it.return!();
      // The drained response frees its connection as it ends (a tick later).
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await readAll(await post('/'))).toBe(events(50));
    expect(connections).toBe(1);
  });

  it('a reader that stops just before the end of the body (its last chunk a moment behind) keeps the connection', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200);
        res.write(events(1), () => setTimeout(() => res.end(), 20));
      });
    };
    for (let i = 0; i < 3; i++) {
      const response = await post('/');
      const it = (response.body as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      await it.next();
      await it.return!();
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    expect(closedResponses).toBe(0);
    expect(connections).toBe(1);
  });

  it('a reader that stops while the body is still coming closes the response (the provider sees it)', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200);
        res.write(events(1));
      });
    };
    const response = await post('/');
    const it = (response.body as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    await it.next();
    await it.return!();
    await expect.poll(() => closedResponses).toBe(1);
  });

  it('an abort before the headers rejects with the abort reason; one during the body fails its reads', async () => {
    handler = (req, res) => {
      req.resume();
      if (req.url === '/slow') return;
      req.on('end', () => {
        res.writeHead(200);
        res.write(events(1));
      });
    };
    const before = new AbortController();
    const pending = post('/slow', { signal: before.signal });
    setTimeout(() => before.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    const during = new AbortController();
    const response = await post('/', { signal: during.signal });
    const it = (response.body as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    await it.next();
    const read = it.next();
    during.abort();
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });
    await expect.poll(() => closedResponses).toBe(2);
  });

  it('a kept connection the provider closed is found dead as it is reused: the request goes again on a new one', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end(events(1)));
    };
    expect(await readAll(await post('/'))).toBe(events(1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Closed by the server; the client has not seen the close yet when the next request takes it.
    server.closeAllConnections();
    expect(await readAll(await post('/'))).toBe(events(1));
    expect(connections).toBe(2);
  });

  it('an already aborted signal sends nothing', async () => {
    handler = () => expect.unreachable();
    const ac = new AbortController();
    ac.abort();
    await expect(post('/', { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(connections).toBe(0);
  });

  it('a refused connection fails as fetch does: TypeError "fetch failed" with the cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await leanFetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('fetch failed');
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('a body cut short fails its reads (not a quiet end)', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200);
        res.write(events(1), () => setTimeout(() => res.socket?.destroy(), 10));
      });
    };
    const response = await post('/');
    await expect(readAll(response)).rejects.toThrow();
  });

  it('an error answer is read with text(); a redirect is followed by fetch', async () => {
    handler = (req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/moved') return res.writeHead(307, { location: '/error' }).end();
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"error":{"message":"slow down"}}');
      });
    };
    const error = await post('/error');
    expect(error.ok).toBe(false);
    expect(error.status).toBe(429);
    expect(error.headers.get('retry-after')).toBe('1');
    expect(await error.text()).toBe('{"error":{"message":"slow down"}}');
    const moved = await post('/moved');
    expect(isLeanResponse(moved)).toBe(false);
    expect(moved.status).toBe(429);
    expect(await moved.json()).toEqual({ error: { message: 'slow down' } });
  });
});
