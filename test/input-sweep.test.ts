import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMIT, ok, removeTempDirs, sseEvents, startTestServer, type TestServer } from './helpers.js';
import { httpExchange, wsExchange, wsInit, wsSubscribe, type Answer } from './sweep-clients.js';
import { deep, valueFor, wrongType, type Known } from './sweep-inputs.js';
import { render, sweptOperations, type SweptOperation } from './sweep-operations.js';
import { finishedThread } from './stream-helpers.js';

/**
 * A seeded, property-based sweep of malformed input over every operation of the schema and
 * every transport (HTTP POST and GET, SSE, WebSocket): whatever a client sends, the server
 * answers with a coded error or data — never an internal error, a 5xx or a 4500/1011 close —
 * and still answers afterwards. The seed is fixed, so a failure reproduces; fast-check prints
 * the (shrunk) input that caused it.
 */

const SEED = 20_260_611;
const RUNS_PER_OPERATION = 30;
const RUNS_MALFORMED = 100;

/** How long a subscription that stays open is listened to before it is cut off. */
const LISTEN_MS = 100;
/** A query or mutation must have answered in full by then (a @defer reply waits for its run). */
const ANSWER_MS = 8000;

let server: TestServer;
let known: Known;
/** Per operation: how many answers carried its data without errors (the sweep also reaches the happy path). */
const successes = new Map<string, number>();

beforeAll(async () => {
  server = await startTestServer({ env: NO_RATE_LIMIT });
  known = await seed(server);
});

afterAll(async () => {
  await server?.stop();
  removeTempDirs();
});

/** Rows to point ids and cursors at: assistants, threads with finished runs, their messages. */
async function seed(s: TestServer): Promise<Known> {
  const ids: Known['ids'] = { Assistant: [], Thread: [], Message: [], Run: [] };
  for (let i = 0; i < 3; i++) {
    const data = await ok(s, `mutation { createAssistant(input: { name: "a${i}" }) { assistant { id } } }`);
    ids.Assistant.push(data.createAssistant.assistant.id);
  }
  const cursors: string[] = [];
  for (let i = 0; i < 6; i++) {
    const { threadId, runId, replyId } = await finishedThread(s, `hello ${i}`);
    ids.Thread.push(threadId);
    ids.Run.push(runId);
    ids.Message.push(replyId);
    const { thread } = await ok(s, `query ($id: ID!) { thread(id: $id) { messages { edges { cursor node { id } } } } }`, { id: threadId });
    for (const edge of thread.messages.edges) (cursors.push(edge.cursor), ids.Message.push(edge.node.id));
  }
  return { ids, cursors };
}

/** The sweep's one assertion: no internal error anywhere in the answer, whatever the transport. */
function expectNoInternalError(answer: Answer): void {
  const shown = `${answer.status ?? `close ${answer.closeCode}`}: ${answer.text.slice(0, 600)}`;
  if (answer.status !== undefined) expect(answer.status, shown).toBeLessThan(500);
  expect([4500, 1011], shown).not.toContain(answer.closeCode);
  expect(answer.text, shown).not.toContain('INTERNAL_SERVER_ERROR');
  expect(answer.text, shown).not.toContain('Unexpected error.');
  // Every error code is one of the contract's (yoga's own codes are mapped onto them).
  for (const [, code] of answer.text.matchAll(/"code":"([A-Z_]+)"/g)) expect(CONTRACT_CODES, shown).toContain(code);
}

const CONTRACT_CODES = ['BAD_USER_INPUT', 'NOT_FOUND', 'THREAD_BUSY', 'UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'STORAGE_ERROR', 'UNAVAILABLE'];

async function expectStillAnswering(): Promise<void> {
  expect(await server.gql('{ __typename }')).toEqual({ data: { __typename: 'Query' } });
}

/** `examples` run first: inputs that once reached an internal error stay in every run. */
const property = <T>(arbitrary: fc.Arbitrary<T>, check: (value: T) => Promise<void>, numRuns: number, examples: T[] = []) =>
  fc.assert(fc.asyncProperty(arbitrary, check), { seed: SEED, numRuns, endOnFailure: false, examples: examples.map((e) => [e] as [T]) });

/** Findings of earlier sweeps, by operation: the values of its variables. */
const FOUND: Record<string, Record<string, unknown>[]> = {
  // An empty assistantId skipped the existence check and failed the foreign key.
  createThread: [{ createThread_input: { assistantId: '' } }],
  // 3,000 nested list levels inline overflowed graphql-js's recursive parser (RangeError).
  updateAssistant: [{ updateAssistant_input: { assistantId: 'asst_x', metadata: { deep: deep(3000, true) } } }],
};

const ACCEPTS = ['application/json', 'application/graphql-response+json', '*/*', 'multipart/mixed', 'text/event-stream'];

type Transport = 'post' | 'get' | 'ws';

/** Transports by weight. Mutations go over GET too, less often: they must be refused (405), not fail. */
function transportsOf(op: SweptOperation): fc.Arbitrary<Transport> {
  const weighted = (post: number, get: number, ws: number) =>
    fc.oneof(
      { weight: post, arbitrary: fc.constant<Transport>('post') },
      { weight: get, arbitrary: fc.constant<Transport>('get') },
      ...(ws ? [{ weight: ws, arbitrary: fc.constant<Transport>('ws') }] : []),
    );
  return op.kind === 'subscription' ? weighted(2, 1, 2) : weighted(4, 1, 0);
}

/** Sends one rendered operation over `transport`; returns the answer. */
async function send(op: SweptOperation, transport: Transport, query: string, variables: Record<string, unknown>, accept: string): Promise<Answer> {
  const waitMs = op.kind === 'subscription' ? LISTEN_MS : ANSWER_MS;
  if (transport === 'ws') return wsExchange(server.url, [wsInit(), wsSubscribe('1', { query, variables })], LISTEN_MS);
  if (transport === 'get') {
    const search = new URLSearchParams({ query, ...(Object.keys(variables).length ? { variables: JSON.stringify(variables) } : {}) });
    return httpExchange(`${server.url}?${search}`, { headers: { accept } }, waitMs);
  }
  const body = JSON.stringify({ query, variables });
  return httpExchange(server.url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body }, waitMs);
}

/**
 * Whether the answer carries the operation's data without errors: a JSON body, a multipart part
 * or a WebSocket `next` (one per line), or an SSE event's data.
 */
function succeeded(op: SweptOperation, answer: Answer): boolean {
  const bodies = [...answer.text.split(/\r?\n/), ...sseEvents(answer.text).map((e) => e.data)];
  return bodies.some((line) => {
    try {
      const parsed = JSON.parse(line);
      const result = parsed.type === 'next' ? parsed.payload : parsed;
      return result?.data?.[op.field] != null && !result.errors;
    } catch {
      return false;
    }
  });
}

// Deletions last: until then the seeded rows exist, so the other operations reach past their lookups.
const ORDERED = sweptOperations().sort((a, b) => Number(a.field.startsWith('delete')) - Number(b.field.startsWith('delete')));

describe.each(ORDERED.map((op) => [`${op.kind} ${op.field}`, op] as const))('%s with arbitrary input', (_name, op) => {
  it('never answers with an internal error, on any transport', async () => {
    // A third of the requests are clean; the others have one bad root argument (see valueFor).
    // Arguments of nested fields (a connection's first/after) are mostly left out.
    const roots = op.args.filter((a) => !a.nested);
    const values = (bad: string | null) =>
      fc.record(
        Object.fromEntries(
          op.args.map((a) => [
            a.variable,
            a.nested
              ? fc.oneof(
                  { weight: 6, arbitrary: fc.constant(undefined) },
                  { weight: 1, arbitrary: valueFor(a.type, known, a.name, true) },
                  { weight: 1, arbitrary: valueFor(a.type, known, a.name, false) },
                )
              : valueFor(a.type, known, a.name === 'id' ? `id:${op.field}` : a.name, a.variable !== bad),
          ]),
        ),
      );
    const dirty = roots.length ? fc.constantFrom(...roots.map((a) => a.variable)).chain(values) : values(null);
    const request = fc.record({
      values: fc.oneof({ weight: 1, arbitrary: values(null) }, { weight: 2, arbitrary: dirty }),
      inline: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      defer: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      transport: transportsOf(op),
      accept: op.kind === 'subscription' ? fc.constantFrom('text/event-stream', 'text/event-stream', ...ACCEPTS) : fc.constantFrom(...ACCEPTS),
    });
    await property(
      request,
      async ({ values, inline, defer, transport, accept }) => {
        const { query, variables } = render(op, values, { inline, defer });
        const answer = await send(op, transport, query, variables, accept);
        expectNoInternalError(answer);
        if (op.kind !== 'subscription') expect(answer.cutOff, `no full answer within ${ANSWER_MS} ms: ${query}`).toBe(false);
        if (succeeded(op, answer)) successes.set(op.field, (successes.get(op.field) ?? 0) + 1);
      },
      RUNS_PER_OPERATION,
      (FOUND[op.field] ?? []).flatMap((values) => [
        { values, inline: false, defer: false, transport: 'post' as const, accept: 'application/json' },
        { values, inline: true, defer: false, transport: 'post' as const, accept: 'application/json' },
      ]),
    );
    await expectStillAnswering();
  });
});

/** Bodies no client library would send: not JSON, JSON of the wrong shape, the wrong encoding. */
const malformedBody = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '', '{', '}', '[]', '[{"query":"{ __typename }"}]', 'null', '1', '"x"', 'true', '{"query":1}', '{"query":null}', '{"query":["{ __typename }"]}',
    '{"query":"{ __typename }","variables":"x"}', '{"query":"{ __typename }","variables":[1]}', '{"query":"{ __typename }","variables":"{\\"a\\":1}"}',
    '{"query":"{ __typename }","extensions":1}', '{"query":"{ __typename }","extensions":{"persistedQuery":{"version":1,"sha256Hash":"x"}}}',
    '{"query":"{ __typename }","operationName":1}', '{"query":"{ __typename }","operationName":"Nope"}', '{"query":"{ __typename }","__proto__":{"x":1}}',
    '{"query":"\\u0000"}', '{"query":"\\ud800"}', '{"query":"{ __typename }"} trailing', '\u0000', '\ufeff{"query":"{ __typename }"}',
    'query=%7B__typename%7D&variables=nope', 'query=%7B__typename%7D&extensions=%7B', 'query=%7B__typename%7D&variables=%5B%5D', 'query[]=1&query=2',
    '--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"{ __typename }"}\r\n--x--', '--x\r\n\r\n--x--', '{ __typename }',
  ),
  fc.constantFrom(3000, 50_000).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
  fc.constantFrom(3000, 50_000).map((n) => `{"query":"{ __typename }","variables":{"a":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}}`),
);

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-16', 'application/json, text/plain', 'application/graphql+json', 'application/graphql',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'multipart/form-data', 'text/plain', 'application/octet-stream', '',
];

describe('malformed requests', () => {
  it('bodies: not JSON, JSON of the wrong shape, wrong content types and methods', async () => {
    const request = fc.record({
      method: fc.constantFrom('POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE'),
      contentType: fc.constantFrom(...CONTENT_TYPES),
      accept: fc.constantFrom(...ACCEPTS, 'text/html', 'application/xml', ''),
      body: fc.oneof({ weight: 5, arbitrary: malformedBody }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)) }),
    });
    await property(
      request,
      async ({ method, contentType, accept, body }) => {
        const headers: Record<string, string> = {};
        if (contentType) headers['content-type'] = contentType;
        if (accept) headers.accept = accept;
        expectNoInternalError(await httpExchange(server.url, { method, headers, body }, ANSWER_MS));
      },
      RUNS_MALFORMED,
    );
    await expectStillAnswering();
  });

  it('GET query strings: random query, variables, extensions and operationName parameters', async () => {
    const operationText = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(
        '{ __typename }', '{ threads { edges { cursor } } }', 'mutation { deleteThread(input: { threadId: "x" }) { deletedThreadId } }',
        'subscription { threadEvents(threadId: "x") { seq } }', 'query A { __typename } query B { __typename }', '{', '#', 'query ($a: Int) { __typename }',
      ),
    );
    const jsonish = fc.oneof(fc.string({ maxLength: 20 }), wrongType.map((v) => JSON.stringify(v)), fc.constantFrom('{', 'nope', '{"a":1}', 'null', '[]', '%'));
    const params = fc.record(
      { query: operationText, variables: jsonish, extensions: jsonish, operationName: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('A', 'B')), extra: fc.string({ maxLength: 10 }) },
      { requiredKeys: [] },
    );
    await property(
      fc.record({ params, accept: fc.constantFrom(...ACCEPTS, 'text/html') }),
      async ({ params, accept }) => {
        const search = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
        expectNoInternalError(await httpExchange(`${server.url}?${search}`, { headers: { accept } }, LISTEN_MS * 4));
      },
      RUNS_MALFORMED,
      // variables or extensions that are not JSON reached yoga's bare JSON.parse (500).
      [
        { params: { query: '{ __typename }', variables: 'nope' }, accept: 'application/json' },
        { params: { query: '{ __typename }', extensions: '{' }, accept: 'application/json' },
      ],
    );
    await expectStillAnswering();
  });

  it('WebSocket: connection_init payloads and frames out of protocol', async () => {
    const validSubscribe = (id: string) =>
      wsSubscribe(id, { query: `subscription ($id: ID!) { runEvents(runId: $id) { seq } }`, variables: { id: known.ids.Run[0] } });
    const authorization = fc.oneof(
      wrongType,
      fc.constantFrom('Bearer ', 'Bearer \u0000', `Bearer ${'x'.repeat(10_000)}`, 'Basic abc', 'Bearer tql_nope', '\ud800'),
    );
    const init = fc.oneof(
      fc.constant(wsInit()),
      authorization.map((a) => wsInit({ authorization: a })),
      authorization.map((a) => wsInit({ Authorization: a })),
      wrongType.map((p) => JSON.stringify({ type: 'connection_init', payload: p })),
    );
    const frame = fc.oneof(
      fc.string({ maxLength: 20 }),
      wrongType.map((v) => JSON.stringify(v)),
      fc.constantFrom('connection_ack', 'next', 'error', 'complete', 'ping', 'pong', 'subscribe', 'nope', '').chain((type) =>
        fc.record({ id: fc.oneof(fc.constantFrom('1', '2', ''), wrongType), payload: wrongType }, { requiredKeys: [] }).map((m) => JSON.stringify({ type, ...m })),
      ),
      // Well formed, but only a server sends them (or only after a subscribe).
      fc.constantFrom(
        { type: 'next', id: '1', payload: { data: null } },
        { type: 'error', id: '1', payload: [{ message: 'x' }] },
        { type: 'connection_ack' },
        { type: 'complete', id: '1' },
        { type: 'ping', payload: { a: 1 } },
        { type: 'pong' },
      ).map((m) => JSON.stringify(m)),
      fc.constantFrom('1', '2').map(validSubscribe),
      fc.record({ query: fc.string({ maxLength: 30 }), variables: wrongType, extensions: wrongType, operationName: wrongType }, { requiredKeys: [] }).map((p) =>
        wsSubscribe('3', p),
      ),
      fc.uint8Array({ maxLength: 10 }).map((b) => Buffer.from(b)),
      init,
    );
    await property(
      // Mostly a good connection_init first, so that the frames after it reach the acknowledged socket.
      fc.record({
        first: fc.oneof({ weight: 3, arbitrary: fc.constant(wsInit()) }, { weight: 2, arbitrary: init }, { weight: 1, arbitrary: frame }),
        rest: fc.array(frame, { maxLength: 4 }),
      }),
      async ({ first, rest }) => expectNoInternalError(await wsExchange(server.url, [first, ...rest], LISTEN_MS)),
      RUNS_MALFORMED,
      // A non-string authorization threw a TypeError (4500); a client `next` reached graphql-ws's unknown case (4500).
      [
        { first: wsInit({ authorization: 1 }), rest: [] },
        { first: wsInit({ authorization: { key: 'x' } }), rest: [] },
        { first: wsInit(), rest: [JSON.stringify({ type: 'next', id: '1', payload: { data: null } })] },
      ],
    );
    await expectStillAnswering();
  });
});

describe('after the sweep', () => {
  it('reached the happy path of every query and mutation', () => {
    for (const op of sweptOperations()) {
      // Its happy path needs a run waiting for the outputs of calls it made: test/tools*.test.ts.
      if (op.field === 'submitToolOutputs') continue;
      if (op.kind !== 'subscription') expect(successes.get(op.field) ?? 0, `${op.field} never answered with data`).toBeGreaterThan(0);
    }
  });

  it('still answers on every transport, and no run it started failed', async () => {
    await expectStillAnswering();
    const get = await httpExchange(`${server.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/json' } }, ANSWER_MS);
    expect(JSON.parse(get.text)).toEqual({ data: { __typename: 'Query' } });
    const ws = await wsExchange(server.url, [wsInit(), wsSubscribe('1', { query: '{ __typename }' })], LISTEN_MS);
    expect(ws.text).toContain('"__typename":"Query"');
    // The offline model never fails: a FAILED run means some input broke a run in the background.
    const failed: unknown[] = [];
    let after: string | null = null;
    do {
      const data: any = await ok(server, `query ($after: String) { threads(first: 50, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id runs(last: 50) { edges { node { id status error { code message } } } } } } } }`, { after });
      for (const thread of data.threads.edges) for (const run of thread.node.runs.edges) if (run.node.status === 'FAILED') failed.push(run.node);
      after = data.threads.pageInfo.hasNextPage ? data.threads.pageInfo.endCursor : null;
    } while (after);
    expect(failed).toEqual([]);
  });
});
