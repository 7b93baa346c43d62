import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { createStore } from '../src/store/index.js';
import { startServer, type RunningServer } from '../src/server.js';
import { bearer, post, request } from './auth-helpers.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { closeDatabaseUnder, rawSql, removeTempDirs, startTestServer, tempDatabaseFile, TEST_API_KEY, type TestServer } from './helpers.js';

/**
 * Issue 5, production mode and safe defaults: GraphiQL, introspection and field suggestions
 * off, CSRF prevention, the CORS origin list, masked internal errors, the start-up refusal on
 * an exposed HOST without keys, and no secret in any response or log line.
 */

// ---------------------------------------------------------------- local helpers

const getQuery = (url: string, key: string | null, query: string, headers: Record<string, string> = {}) =>
  request(`${url}?query=${encodeURIComponent(query)}`, {
    headers: { accept: 'application/json', ...bearer(key), ...headers },
  });

const preflight = (url: string, origin: string) =>
  request(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });

/** Captures every pino line a server writes. */
function captureLogs(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  // Same redaction as the default logger (src/services.ts), at the most verbose level.
  const logger = pino({ level: 'trace', redact: ['*.apiKey', '*.authorization'] }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

const INTROSPECTION = '{ __schema { types { name } } }';
const TYPE_INTROSPECTION = '{ __type(name: "Thread") { fields { name } } }';
const THREADS = '{ threads(first: 5) { edges { node { id title } } } }';

// ---------------------------------------------------------------- tests

describe('NODE_ENV=production', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example' } });
    key = (await createApiKey(server.services.store.keys, 'alice')).key;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('GraphiQL is off: a browser GET asking for HTML does not get the GraphiQL page', async () => {
    const res = await request(server.url, { headers: { accept: 'text/html' } });
    expect(res.headers.get('content-type') ?? '').not.toContain('text/html');
    expect(res.text).not.toMatch(/graphiql|<html/i);
  });

  it('introspection is off (__schema and __type)', async () => {
    for (const q of [INTROSPECTION, TYPE_INTROSPECTION]) {
      const res = await post(server.url, key, q);
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors?.length).toBeGreaterThan(0);
      expect(res.text).not.toContain('"Thread"');
      expect(res.text).not.toContain('ThreadEvent');
    }
  });

  it('field suggestions are hidden: a typo gets no "Did you mean"', async () => {
    const res = await post(server.url, key, '{ threadz { edges { node { id } } } }');
    expect(res.body.errors[0].message).toContain('threadz');
    expect(res.text).not.toMatch(/did you mean/i);
    const nested = await post(server.url, key, '{ threads { edges { node { titel } } } }');
    expect(nested.body.errors[0].message).toContain('titel');
    expect(nested.text).not.toMatch(/did you mean|"title"/i);
  });

  it('CSRF: a GET query without the x-graphql-yoga-csrf header is refused (403); with it, or as a JSON POST, it works', async () => {
    const refused = await getQuery(server.url, key, THREADS);
    expect(refused.status).toBe(403);
    expect(refused.body?.data ?? null).toBeNull();
    const withHeader = await getQuery(server.url, key, THREADS, { 'x-graphql-yoga-csrf': '1' });
    expect(withHeader.status).toBe(200);
    expect(withHeader.body.data.threads).toBeDefined();
    const json = await post(server.url, key, THREADS);
    expect(json.status).toBe(200);
    expect(json.body.errors).toBeUndefined();
  });

  it('CSRF: a "simple" cross-site POST (text/plain) is refused and its mutation not executed', async () => {
    const res = await request(server.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: 'mutation { createThread(input: { title: "csrf" }) { thread { id } } }' }),
    });
    expect(res.status).toBe(403);
    expect(await rawSql(server, `select count(*)::int as n from threads where title = 'csrf'`)).toEqual([{ n: 0 }]);
  });

  it('CORS: a preflight from an allowed origin is allowed; from another origin it is not', async () => {
    const allowed = await preflight(server.url, 'https://app.example');
    expect(allowed.status).toBeLessThan(300);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((allowed.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('authorization');

    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'null']) {
      const other = await preflight(server.url, origin);
      const acao = other.headers.get('access-control-allow-origin');
      expect(acao === null || (acao !== origin && acao !== '*'), `${origin} got access-control-allow-origin: ${acao}`).toBe(true);
    }
    // An actual request from the allowed origin carries the header too.
    const real = await post(server.url, key, THREADS, undefined, { origin: 'https://app.example' });
    expect(real.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });
});

describe('CORS with several origins', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example, https://admin.example' } });
    (await createApiKey(server.services.store.keys, 'alice'));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('each listed origin is allowed as itself; any other origin, the opaque "null" origin included, is not', async () => {
    for (const origin of ['https://app.example', 'https://admin.example']) {
      const res = await preflight(server.url, origin);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    }
    // A sandboxed iframe or a data: URL sends `Origin: null`; answering `access-control-allow-origin: null`
    // (with allow-credentials) would let such a page read responses.
    for (const origin of ['https://evil.example', 'null']) {
      const res = await preflight(server.url, origin);
      const acao = res.headers.get('access-control-allow-origin');
      expect(acao === null || (acao !== origin && acao !== '*'), `${origin} got access-control-allow-origin: ${acao}`).toBe(true);
    }
  });
});

describe('production mode with GRAPHIQL=true and INTROSPECTION=true', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production', GRAPHIQL: 'true', INTROSPECTION: 'true' } });
    key = (await createApiKey(server.services.store.keys, 'alice')).key;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('GraphiQL is served when enabled explicitly', async () => {
    const res = await request(server.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.text).toMatch(/graphiql/i);
  });

  it('introspection works when enabled explicitly', async () => {
    const res = await post(server.url, key, INTROSPECTION);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.__schema.types.map((t: any) => t.name)).toContain('Thread');
  });

  it('field suggestions stay hidden', async () => {
    const res = await post(server.url, key, '{ threadz { edges { node { id } } } }');
    expect(res.text).not.toMatch(/did you mean/i);
  });
});

describe('development mode (the control: the same checks do find these things)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('GraphiQL, introspection and suggestions are on; GET queries need no CSRF header', async () => {
    const page = await request(server.url, { headers: { accept: 'text/html' } });
    expect(page.text).toMatch(/graphiql/i);
    expect((await post(server.url, null, INTROSPECTION)).body.errors).toBeUndefined();
    expect((await post(server.url, null, '{ threadz { edges { node { id } } } }')).text).toMatch(/did you mean/i);
    expect((await getQuery(server.url, null, THREADS)).status).toBe(200);
  });
});

describe('masked internal errors (production)', () => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider();
  });
  afterAll(async () => {
    await fake?.close();
    removeTempDirs();
  });

  const leaks = (text: string, key: string) => {
    expect(text).not.toMatch(/sqlite|SQL|select |from threads|stack|\bat .*\.(ts|js):\d+|node_modules|database/i);
    expect(text).not.toContain(key);
    expect(text).not.toContain(TEST_API_KEY);
  };

  it('a resolver failing inside (a missing table) answers only "Unexpected error." with INTERNAL_SERVER_ERROR', async () => {
    const server = await startTestServer({ provider: fake, env: { NODE_ENV: 'production' } });
    try {
      const key = (await createApiKey(server.services.store.keys, 'alice')).key;
      await rawSql(server, 'ALTER TABLE threads RENAME TO threads_gone');
      const res = await post(server.url, key, THREADS);
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors[0].message).toBe('Unexpected error.');
      expect(res.body.errors[0].extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId: res.headers.get('x-request-id') });
      leaks(res.text, key);
      await rawSql(server, 'ALTER TABLE threads_gone RENAME TO threads');
    } finally {
      await server.stop();
    }
  });

  it('the database closed under the server: every answer is only "Unexpected error." (no internal message, not a 401)', async () => {
    const server = await startTestServer({ provider: fake, env: { NODE_ENV: 'production' } });
    const key = (await createApiKey(server.services.store.keys, 'alice')).key;
    try {
      await closeDatabaseUnder(server);
      const res = await post(server.url, key, THREADS);
      // Authentication itself needs the database: its failure is an internal error, not a bad key.
      expect(res.status).not.toBe(401);
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors[0].message, res.text).toBe('Unexpected error.');
      expect(res.body.errors[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      leaks(res.text, key);
    } finally {
      await server.stop().catch(() => {});
    }
  });

  it('the database closed under the server: a WebSocket is not told "bad key" (4401) nor the internal message', async () => {
    const server = await startTestServer({ provider: fake, env: { NODE_ENV: 'production' } });
    const key = (await createApiKey(server.services.store.keys, 'alice')).key;
    try {
      await closeDatabaseUnder(server);
      const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const socket = new WebSocket(server.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
        const timer = setTimeout(() => reject(new Error('socket not closed within 3 s')), 3000);
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })));
        socket.on('close', (code, reason) => (clearTimeout(timer), resolve({ code, reason: reason.toString() })));
      });
      expect(closed.code, closed.reason).not.toBe(4401);
      expect(closed.reason).not.toMatch(/database|sqlite|SQL/i);
    } finally {
      await server.stop().catch(() => {});
    }
  });
});

describe('start-up on an exposed HOST', () => {
  const servers: RunningServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    removeTempDirs();
  });

  const exposedConfig = (databaseFile: string, extra: Record<string, string> = {}) =>
    loadConfig({ HOST: '0.0.0.0', PORT: '0', DATABASE_URL: databaseFile, LOG_LEVEL: 'silent', SHUTDOWN_GRACE_MS: '0', ...extra });

  it('without any key it refuses to start, saying how to create one (or how to opt out)', async () => {
    const { logger } = captureLogs();
    const err = await startServer(exposedConfig(tempDatabaseFile()), { logger }).then(
      (s) => (servers.push(s), null),
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain('npm run keys -- create');
    expect(err!.message).toContain('ALLOW_UNAUTHENTICATED=true');
    expect(err!.message).toContain('0.0.0.0');
  });

  it.each(['::', '192.168.1.10'])('also for HOST=%s (refused before listening)', async (host) => {
    const err = await startServer(exposedConfig(tempDatabaseFile(), { HOST: host }), { logger: captureLogs().logger }).then(
      (s) => (servers.push(s), null),
      (e: Error) => e,
    );
    expect(err?.message).toContain('npm run keys -- create');
  });

  it('with ALLOW_UNAUTHENTICATED=true it starts, open, with a warning in the log', async () => {
    const { logger, lines } = captureLogs();
    const server = await startServer(exposedConfig(tempDatabaseFile(), { ALLOW_UNAUTHENTICATED: 'true' }), { logger });
    servers.push(server);
    const port = new URL(server.url).port;
    const res = await post(`http://127.0.0.1:${port}/graphql`, null, THREADS);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level >= 40);
    expect(warnings.map((w) => w.msg).join('\n')).toMatch(/ALLOW_UNAUTHENTICATED/);
  });

  it('with a key in the database it starts, and requires the key', async () => {
    const databaseFile = tempDatabaseFile();
    const store = await createStore(databaseFile);
    const { key } = await createApiKey(store.keys, 'ops');
    await store.close();
    const server = await startServer(exposedConfig(databaseFile), { logger: captureLogs().logger });
    servers.push(server);
    const port = new URL(server.url).port;
    expect((await post(`http://127.0.0.1:${port}/graphql`, null, THREADS)).status).toBe(401);
    expect((await post(`http://127.0.0.1:${port}/graphql`, key, THREADS)).status).toBe(200);
  });

  it('a revoked-only key database still counts as "keys exist" (no silent fallback to open mode)', async () => {
    const databaseFile = tempDatabaseFile();
    const store = await createStore(databaseFile);
    const { row, key } = await createApiKey(store.keys, 'ops');
    await revokeApiKey(store.keys, row.id);
    await store.close();
    const server = await startServer(exposedConfig(databaseFile), { logger: captureLogs().logger });
    servers.push(server);
    const port = new URL(server.url).port;
    expect((await post(`http://127.0.0.1:${port}/graphql`, null, THREADS)).status).toBe(401);
    expect((await post(`http://127.0.0.1:${port}/graphql`, key, THREADS)).status).toBe(401);
  });
});

describe('secrets never leave the server (production, captured logs)', () => {
  let fake: FakeProvider;
  let server: RunningServer;
  let lines: string[];
  let key: string;
  const texts: string[] = [];

  beforeAll(async () => {
    fake = await startFakeProvider();
    const captured = captureLogs();
    lines = captured.lines;
    server = await startServer(
      loadConfig({
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: '0',
        DATABASE_URL: tempDatabaseFile(),
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: TEST_API_KEY,
        SHUTDOWN_GRACE_MS: '0',
        LOG_LEVEL: 'trace',
      }),
      { logger: captured.logger },
    );
    key = (await createApiKey(server.services.store.keys, 'alice')).key;
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    removeTempDirs();
  });

  it('a provider answering 401 (echoing the key): the run FAILS with PROVIDER_AUTH and no response carries the key', async () => {
    fake.setDefault({ status: 401, errorMessage: `Incorrect API key provided: ${TEST_API_KEY}. You sent Authorization: Bearer ${TEST_API_KEY}` });
    const created = await post(
      server.url,
      key,
      `mutation { createThread(input: { title: "leak", messages: [{ role: USER, content: "hi" }] }) {
        thread { id } run { id } reply { id } } }`,
    );
    texts.push(created.text);
    expect(created.body.errors).toBeUndefined();
    const { thread, run } = created.body.data.createThread;
    const read = await post(server.url, key, 'query ($r: ID!) { run(id: $r) { status error { code message } } }', { r: run.id });
    texts.push(read.text);
    expect(read.body.data.run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_AUTH' } });
    expect(read.body.data.run.error.message).toMatch(/Incorrect API key provided/);

    // The event log (replayed over SSE) carries the same run error.
    const replay = await request(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: `subscription ($r: ID!) { runEvents(runId: $r) { seq ... on RunStatusEvent { run { status error { code message } } } } }`, variables: { r: run.id } }),
      signal: AbortSignal.timeout(5000),
    });
    texts.push(replay.text);
    expect(replay.text).toContain('PROVIDER_AUTH');
    const thr = await post(server.url, key, 'query ($t: ID!) { thread(id: $t) { messages { edges { node { content } } } runs { edges { node { error { message } } } } } }', { t: thread.id });
    texts.push(thr.text);

    for (const text of texts) {
      expect(text).not.toContain(TEST_API_KEY);
      expect(text).not.toContain(TEST_API_KEY.slice(3)); // without the sk- prefix
    }
  });

  it('the logs hold neither the provider key nor any API key, and do hold lines (the capture works)', async () => {
    // Something that is logged: an internal error.
    await rawSql(server, 'ALTER TABLE assistants RENAME TO assistants_gone');
    const failed = await post(server.url, key, '{ assistants { edges { node { id } } } }');
    await rawSql(server, 'ALTER TABLE assistants_gone RENAME TO assistants');
    expect(failed.body.errors[0].message).toBe('Unexpected error.');
    // A request with a wrong key (which must not be logged either).
    await post(server.url, 'tql_wrong_key_that_must_not_be_logged', THREADS);

    expect(lines.length).toBeGreaterThan(0);
    const all = lines.join('');
    expect(all).not.toContain(TEST_API_KEY);
    expect(all).not.toContain(key);
    expect(all).not.toContain('tql_wrong_key_that_must_not_be_logged');
  });

  it('a masked internal error is logged server-side (operators can see what the client cannot)', () => {
    const all = lines.join('');
    expect(all, 'no log line mentions the internal error behind "Unexpected error."').toMatch(/assistants/);
  });
});
