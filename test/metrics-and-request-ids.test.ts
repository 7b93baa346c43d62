import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/keys.js';
import { post, request, wsClient, wsRun } from './auth-helpers.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { NO_RATE_LIMIT, rawSql, removeTempDirs, startTestServer, subscribeSse, subscribeWs, type TestServer } from './helpers.js';
import { CREATE_THREAD, RUN_EVENTS } from './operations.js';
import { LogCapture } from './storage-faults-helpers.js';

/** `GET /metrics`, x-request-id on every response, and the request / run-end log lines. */

const SECRET_TEXT = 'the-secret-words-of-the-user';
const REPLY_TEXT = 'the private reply of the model';

/** The value of one sample line (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}}` : `${name} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('operations: metrics, request ids and logs', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let logs: LogCapture;
  const metricsUrl = () => server.url.replace('/graphql', '/metrics');
  const scrape = async () => (await request(metricsUrl(), {})).text;

  beforeAll(async () => {
    fake = await startFakeProvider();
    logs = new LogCapture();
    server = await startTestServer({
      provider: fake,
      env: { ...NO_RATE_LIMIT, LOG_LEVEL: 'info' },
      logger: pino({ level: 'info' }, logs.stream),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    removeTempDirs();
  });

  it('serves Prometheus text with process metrics and every threadql family', async () => {
    const res = await request(metricsUrl(), {});
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    for (const family of [
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
      'threadql_runs_total',
      'threadql_run_duration_seconds',
      'threadql_time_to_first_token_seconds',
      'threadql_provider_errors_total',
      'threadql_open_subscriptions',
      'threadql_events_published_total',
      'threadql_events_stored_total',
      'threadql_flush_batch_deltas',
      'threadql_db_transaction_seconds',
    ]) {
      expect(res.text, family).toContain(`# TYPE ${family} `);
    }
  });

  it('counts a run to its end: statuses, duration, first token, events published and stored, flush batches, GraphQL timings', async () => {
    const before = await scrape();
    fake.enqueue({ chunks: ['a ', 'b ', 'c ', 'd'], paceMs: 5 });
    const created = await server.gql(CREATE_THREAD, { input: { messages: [{ role: 'USER', content: SECRET_TEXT }] } });
    const sub = subscribeSse(server.url, RUN_EVENTS, { runId: created.data.createThread.run.id });
    await sub.completed;
    // The reply's last deltas are stored by the flush that precedes the run's end.
    const after = await scrape();
    const grew = (name: string, labels = '') => sample(after, name, labels) - sample(before, name, labels);
    expect(grew('threadql_runs_total', 'status="COMPLETED"')).toBe(1);
    expect(grew('threadql_runs_total', 'status="IN_PROGRESS"')).toBe(1);
    expect(grew('threadql_run_duration_seconds_count', 'status="COMPLETED"')).toBe(1);
    expect(grew('threadql_time_to_first_token_seconds_count')).toBe(1);
    expect(grew('threadql_events_published_total', 'type="MESSAGE_DELTA"')).toBe(4);
    expect(grew('threadql_events_stored_total', 'type="MESSAGE_DELTA"')).toBe(4);
    expect(grew('threadql_events_stored_total', 'type="RUN_STATUS"')).toBeGreaterThanOrEqual(2);
    expect(grew('threadql_flush_batch_deltas_sum')).toBe(4);
    expect(grew('threadql_db_transaction_seconds_count', 'outcome="commit"')).toBeGreaterThan(0);
    expect(after).toMatch(/graphql_envelop_request_duration_count\{[^}]*operationType="mutation"[^}]*\} [1-9]/);
    expect(after).toContain('graphql_yoga_http_duration_bucket');
    // Only the GraphQL families the README names: each other one would be work on every request.
    const graphqlFamilies = new Set([...after.matchAll(/^# TYPE (graphql_\w+) /gm)].map((m) => m[1]));
    expect([...graphqlFamilies].sort()).toEqual(['graphql_envelop_error_result', 'graphql_envelop_request_duration', 'graphql_yoga_http_duration'].filter((f) => graphqlFamilies.has(f)));
    expect(graphqlFamilies.has('graphql_envelop_request_duration') && graphqlFamilies.has('graphql_yoga_http_duration')).toBe(true);
  });

  it('counts provider errors by code', async () => {
    const before = await scrape();
    fake.enqueue({ status: 401, errorMessage: 'bad key' });
    const created = await server.gql(CREATE_THREAD, { input: { messages: [{ role: 'USER', content: 'hi' }] } });
    await subscribeSse(server.url, RUN_EVENTS, { runId: created.data.createThread.run.id }).completed;
    const after = await scrape();
    expect(sample(after, 'threadql_provider_errors_total', 'code="PROVIDER_AUTH"') - sample(before, 'threadql_provider_errors_total', 'code="PROVIDER_AUTH"')).toBe(1);
    expect(sample(after, 'threadql_runs_total', 'status="FAILED"') - sample(before, 'threadql_runs_total', 'status="FAILED"')).toBe(1);
  });

  it('gauges open subscriptions by transport, down again when they end', async () => {
    const thread = await server.gql(CREATE_THREAD, { input: { messages: [{ role: 'ASSISTANT', content: 'x' }] } });
    const threadId = thread.data.createThread.thread.id;
    const query = 'subscription ($t: ID!) { threadEvents(threadId: $t, after: 0) { seq } }';
    const sse = subscribeSse(server.url, query, { t: threadId });
    const ws = subscribeWs(server.url, query, { t: threadId });
    await sse.waitFor(1);
    await ws.waitFor(1);
    const open = async (transport: string) => sample(await scrape(), 'threadql_open_subscriptions', `transport="${transport}"`);
    await expect.poll(() => open('sse')).toBe(1);
    await expect.poll(() => open('websocket')).toBe(1);
    sse.close();
    ws.close();
    await expect.poll(() => open('sse')).toBe(0);
    await expect.poll(() => open('websocket')).toBe(0);
  });

  it('x-request-id: the caller\'s own when sane, else a new one, on every kind of response', async () => {
    const mine = 'req-1234.abc:def_5';
    for (const path of ['/graphql', '/health', '/ready', '/metrics', '/nowhere']) {
      const res = await request(server.url.replace('/graphql', path), { headers: { 'x-request-id': mine } });
      expect(res.headers.get('x-request-id'), path).toBe(mine);
    }
    const tooLarge = await request(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(2 * 1024 * 1024) });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    for (const insane of ['has spaces in it', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const res = await post(server.url, null, '{ __typename }', undefined, { 'x-request-id': insane });
      const id = res.headers.get('x-request-id');
      expect(id).not.toBe(insane);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const a = await post(server.url, null, '{ __typename }');
    const b = await post(server.url, null, '{ __typename }');
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });

  it('the WebSocket upgrade answers with x-request-id', async () => {
    const id = await new Promise<string | undefined>((resolve, reject) => {
      const socket = new WebSocket(server.url.replace(/^http/, 'ws'), 'graphql-transport-ws', { headers: { 'x-request-id': 'ws-upgrade-7' } });
      socket.on('upgrade', (res) => resolve(res.headers['x-request-id'] as string | undefined));
      socket.on('open', () => socket.close());
      socket.on('error', reject);
    });
    expect(id).toBe('ws-upgrade-7');
  });

  it('one log line per request naming its id, one per run end — never message contents', async () => {
    fake.enqueue({ text: REPLY_TEXT });
    const res = await post(
      server.url,
      null,
      `mutation ($input: CreateThreadInput!) { createThread(input: $input) { run { id } reply { content } } }`,
      { input: { messages: [{ role: 'USER', content: SECRET_TEXT }] } },
      { 'x-request-id': 'log-check-42' },
    );
    const runId = res.body.data.createThread.run.id;
    await logs.waitFor('run ended', 1);
    await expect.poll(() => logs.lines.filter((l) => l.msg === 'run ended' && l.runId === runId).length).toBe(1);
    const requestLines = logs.lines.filter((l) => l.msg === 'request' && l.reqId === 'log-check-42');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({ method: 'POST', path: '/graphql', status: 200 });
    const runLine = logs.lines.find((l) => l.msg === 'run ended' && l.runId === runId)!;
    expect(runLine).toMatchObject({ status: 'COMPLETED', model: expect.any(String), durationMs: expect.any(Number) });
    const all = JSON.stringify(logs.lines);
    expect(all).not.toContain(SECRET_TEXT);
    expect(all).not.toContain(REPLY_TEXT);
  });

  it('a masked error names the request id, in the answer and in its log line', async () => {
    await rawSql(server, 'ALTER TABLE assistants RENAME TO assistants_gone');
    try {
      const res = await post(server.url, null, '{ assistants { edges { node { id } } } }', undefined, { 'x-request-id': 'masked-err-9' });
      expect(res.body.errors[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: 'masked-err-9' } });
      const unknown = await post(server.url, null, '{ assistants { edges { node { id } } } }');
      expect(unknown.body.errors[0].extensions.requestId).toBe(unknown.headers.get('x-request-id'));
      // Over WebSocket: the id its upgrade request was given.
      const ws = wsClient(server.url, { header: undefined });
      const outcome = wsRun(ws, '{ assistants { edges { node { id } } } }');
      const ended = await outcome.outcome;
      await ws.dispose();
      const wsError = 'error' in ended ? ended.error : outcome.results[0]?.errors?.[0];
      const errors = Array.isArray(wsError) ? wsError : [wsError];
      expect(errors[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
      expect(logs.lines.some((l) => l.level >= 50 && l.reqId === errors[0].extensions.requestId), 'its log line names the same id').toBe(true);
    } finally {
      await rawSql(server, 'ALTER TABLE assistants_gone RENAME TO assistants');
    }
    const errorLine = logs.lines.find((l) => l.level >= 50 && l.reqId === 'masked-err-9');
    expect(errorLine?.msg).toContain('unexpected error');
  });
});

describe('/metrics once API keys exist', () => {
  it('needs a live key, as the API does (production mode)', async () => {
    const server = await startTestServer({ env: { NODE_ENV: 'production' } });
    try {
      const { key } = await createApiKey(server.services.store.keys, 'ops');
      const url = server.url.replace('/graphql', '/metrics');
      const anonymous = await request(url, {});
      expect(anonymous.status).toBe(401);
      expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect((await request(url, { headers: { authorization: 'Bearer tql_wrong' } })).status).toBe(401);
      const scraped = await request(url, { headers: { authorization: `Bearer ${key}` } });
      expect(scraped.status).toBe(200);
      expect(scraped.text).toContain('threadql_runs_total');
    } finally {
      await server.stop();
      removeTempDirs();
    }
  });
});
