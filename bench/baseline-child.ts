import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { json } from 'node:stream/consumers';
import { createSchema, createYoga } from 'graphql-yoga';
import OpenAI from 'openai';
import { serveControl } from './child-control.js';

/**
 * The baselines that need a server, in a child process started exactly like threadql's (same
 * Node flags, NODE_ENV=production), so both sides pay the same process overheads:
 *  - a bare graphql-yoga answering `{ hello }` (figure 3);
 *  - a bare node:http SSE relay of the provider (figure 6): one openai-SDK stream per client
 *    request, each text delta forwarded as one SSE frame in yoga's framing, with the same JSON
 *    a threadql subscriber receives for a MessageDeltaEvent, so clients parse the same bytes;
 *  - idle SSE connections on node:http, and idle subscriptions on the bare yoga (references for
 *    figure 5: what any SSE server pays per connection, and what yoga itself holds).
 */

const yoga = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { hello: String! } type Subscription { idle: Int }',
    resolvers: {
      Query: { hello: () => 'world' },
      // A subscription that never sends: what yoga itself holds per idle SSE subscription.
      Subscription: { idle: { subscribe: () => new Idle(), resolve: () => 0 } },
    },
  }),
  logging: false,
});
const yogaServer = createServer(yoga);

/** An async iterator that waits until the client goes away. */
class Idle implements AsyncIterableIterator<number> {
  private wake: ((r: IteratorResult<number>) => void) | null = null;
  next(): Promise<IteratorResult<number>> {
    return new Promise((resolve) => (this.wake = resolve));
  }
  return(): Promise<IteratorResult<number>> {
    this.wake?.({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator]() {
    return this;
  }
}

const sdk = new OpenAI({ apiKey: process.env.OPENAI_API_KEY, baseURL: process.env.OPENAI_BASE_URL });
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

const relayServer = createServer((req, res) => {
  if (req.url === '/idle') {
    res.writeHead(200, SSE_HEADERS).write(':\n\n');
    return;
  }
  void (async () => {
    const { key } = (await json(req)) as { key: string };
    // Like yoga: headers and a first comment at once, then the frames.
    res.writeHead(200, SSE_HEADERS).write(':\n\n');
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    try {
      const stream = await sdk.responses.create(
        { model: 'bench', input: [{ role: 'user', content: key }], stream: true, store: false },
        { signal: controller.signal },
      );
      for await (const event of stream) {
        if (event.type !== 'response.output_text.delta') continue;
        const frame = JSON.stringify({ data: { threadEvents: { __typename: 'MessageDeltaEvent', delta: event.delta } } });
        res.write(`event: next\ndata: ${frame}\n\n`);
      }
      res.end('event: complete\ndata:\n\n');
    } catch {
      res.destroy();
    }
  })();
});

const listen = (server: ReturnType<typeof createServer>) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const [yogaPort, relayPort] = await Promise.all([listen(yogaServer), listen(relayServer)]);

serveControl({
  stop() {
    yogaServer.closeAllConnections();
    relayServer.closeAllConnections();
    setImmediate(() => process.exit(0));
  },
});
process.send!({
  ready: true,
  yogaUrl: `http://127.0.0.1:${yogaPort}/graphql`,
  relayUrl: `http://127.0.0.1:${relayPort}/relay`,
  idleUrl: `http://127.0.0.1:${relayPort}/idle`,
});
