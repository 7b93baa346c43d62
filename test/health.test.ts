import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import {
  applyEvents,
  closeDatabaseUnder,
  deferred,
  eventsOf,
  NO_RATE_LIMIT,
  removeTempDirs,
  runOf,
  startTestServer,
  startThread,
  subscribeSse,
  subscribeWs,
  tempDatabaseFile,
  waitUntil,
  within,
  type TestServer,
} from './helpers.js';
import { RUN_EVENTS } from './operations.js';

/**
 * GET /health (alive) and GET /ready (should get traffic), and what a stopping server answers:
 * through the grace period it keeps listening, /ready is 503, new requests get 503 UNAVAILABLE
 * with Retry-After — never an internal error from a database being closed — while the runs
 * already going finish and their subscribers get every event.
 */

const origin = (server: TestServer) => new URL(server.url).origin;
const get = (server: TestServer, path: string) => fetch(`${origin(server)}${path}`);
const QUERY = '{ threads { edges { node { id } } } }';
const post = (server: TestServer, query = QUERY) =>
  fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ query }) });

describe('health and readiness', () => {
  const fakes: FakeProvider[] = [];
  const servers: TestServer[] = [];
  const resumes: Array<() => void> = [];

  afterEach(async () => {
    for (const resume of resumes.splice(0)) resume();
    for (const s of servers.splice(0)) await s.stop();
    for (const f of fakes.splice(0)) await f.close();
  });
  afterAll(() => removeTempDirs());

  async function setup(env: Record<string, string> = {}) {
    const fake = await startFakeProvider();
    fakes.push(fake);
    const server = await startTestServer({ provider: fake, env: { ...NO_RATE_LIMIT, ...env } });
    servers.push(server);
    return { fake, server };
  }

  it('a running server: /health 200, /ready 200 with its checks; neither needs an API key', async () => {
    const { server } = await setup();
    await createApiKey(server.services.store.keys, 'alice');
    expect((await post(server)).status).toBe(401); // keys exist: GraphQL needs one

    const health = await get(server, '/health');
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    const ready = await get(server, '/ready');
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { database: 'ok', shutdown: 'ok' } });
  });

  it('/ready is 503 naming the database when it does not answer; /health stays 200', async () => {
    const { server } = await setup();
    await closeDatabaseUnder(server);
    const ready = await get(server, '/ready');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', checks: { database: 'not answering', shutdown: 'ok' } });
    expect((await get(server, '/health')).status).toBe(200);
  });

  it('during the grace period: /ready 503, new requests 503 UNAVAILABLE with Retry-After, /health 200; the active run finishes for its subscriber', async () => {
    const { fake, server } = await setup({ SHUTDOWN_GRACE_MS: '10000' });
    const pause = deferred();
    resumes.push(pause.resolve);
    fake.enqueue({ chunks: ['Nearly ', 'there.'], pauseAfter: 1, resumeWhen: pause.promise });
    const { runId } = await startThread(server, 'Finish during shutdown');
    const sub = subscribeSse(server.url, RUN_EVENTS, { runId });
    await waitUntil(() => [...applyEvents(eventsOf(sub, 'runEvents')).values()].join('') === 'Nearly ', 'the first word');

    const stopping = server.stop();

    const ready = await get(server, '/ready');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', checks: { database: 'ok', shutdown: 'shutting down' } });

    const query = await post(server);
    expect(query.status).toBe(503);
    expect(query.headers.get('retry-after')).toBe('10');
    expect(await query.json()).toEqual({
      errors: [{ message: 'The server is shutting down.', extensions: { code: 'UNAVAILABLE', retryAfter: 10 } }],
    });
    const subscription = subscribeSse(server.url, RUN_EVENTS, { runId });
    expect(await subscription.response).toMatchObject({ status: 503, body: { errors: [{ extensions: { code: 'UNAVAILABLE' } }] } });

    const socket = subscribeWs(server.url, RUN_EVENTS, { runId });
    expect((await within(socket.closed, 3000, 'the new socket to be closed')).code).toBe(1001);

    expect((await get(server, '/health')).status).toBe(200);

    pause.resolve();
    await within(stopping, 5000, 'server.stop()');
    await within(sub.completed, 3000, 'the subscription to complete');
    expect(eventsOf(sub, 'runEvents').at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { status: 'COMPLETED' } });

    const next = await startTestServer({ provider: fake, databaseFile: server.databaseFile });
    servers.push(next);
    expect(await runOf(next, runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Nearly there.' } });
  });

  it("yoga's own log lines reach the pino logger as component yoga; expected errors are no error lines", async () => {
    const lines: any[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: tempDatabaseFile(), LOG_LEVEL: 'debug' });
    const server = await startServer(config, { logger: pino({ level: 'debug' }, sink) });
    try {
      expect((await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: QUERY }) })).status).toBe(200);
      const unknown = 'mutation { sendMessage(input: { threadId: "thread_unknown", content: "hi" }) { message { id } } }';
      const bad = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: unknown }) });
      expect((await bad.json()).errors[0].extensions.code).toBe('NOT_FOUND');
    } finally {
      await server.stop();
    }
    const yoga = lines.filter((l) => l.component === 'yoga');
    expect(yoga.some((l) => l.level === 20 && /Parsing request/.test(l.msg))).toBe(true);
    expect(yoga.filter((l) => l.level >= 50)).toEqual([]);
  });
});
