import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/keys.js';
import pg from 'pg';
import type { AppStore } from '../src/store/index.js';
import { post, wsClient, type HttpAnswer } from './auth-helpers.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { deferred, rawSql, removeTempDirs, sseExchange, startTestServer, waitUntil, type TestServer } from './helpers.js';
import { EVENT_FIELDS } from './operations.js';

/**
 * Issue 5, isolation: owner B (bob) tries every query, mutation, subscription and list on owner
 * A's (alice's) ids. Every answer must equal the answer for a random unknown id of the same
 * prefix (same message modulo the id, same code NOT_FOUND, same path, same HTTP status), run
 * the same database statements (so it takes as long), and change nothing of alice's.
 */

// ---------------------------------------------------------------- local helpers

/** A whole SSE exchange for a subscription expected to end by itself (an error does). */
async function sseAnswer(url: string, key: string, query: string, variables: Record<string, unknown>): Promise<unknown> {
  try {
    const { status, contentType, events } = await sseExchange(url, query, variables, key, 3000);
    return { status, contentType, events };
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return { timedOut: true };
    throw err;
  }
}

/** A whole graphql-ws exchange for a subscription expected to end by itself. */
async function wsAnswer(url: string, key: string, query: string, variables: Record<string, unknown>): Promise<unknown> {
  const client = wsClient(url, { key });
  const results: unknown[] = [];
  try {
    const outcome = await new Promise<unknown>((resolve) => {
      const timer = setTimeout(() => resolve({ timedOut: true }), 3000);
      client.subscribe(
        { query, variables },
        {
          next: (r) => results.push(r),
          error: (error) => (clearTimeout(timer), resolve({ error: Array.isArray(error) ? error : String((error as any)?.code ?? error) })),
          complete: () => (clearTimeout(timer), resolve('complete')),
        },
      );
    });
    return { results, outcome };
  } finally {
    await client.dispose();
  }
}

/** An id no row has, of the shape src/ids.ts makes (the creation time, then 128 random bits): the same length as alice's. */
const randomId = (prefix: string) => `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(16).toString('base64url')}`;

/** The answer with every occurrence of `id` replaced, so two answers can be compared. */
const normalize = (answer: unknown, id: string) => JSON.parse(JSON.stringify(answer).split(id).join('<ID>'));

/** SQL of every statement executed while `recording`, in order (better-sqlite3 or node-postgres, all statements). */
const statements: string[] = [];
let recording = false;

/** Wraps the driver's query methods once: they still run, their SQL is noted when recording. */
function recordStatements(store: AppStore): void {
  if (store.kind === 'postgres') {
    // Every pooled query ends in Client#query (pool.query included).
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    proto.query = function (this: unknown, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | null)?.text;
      if (recording && text) statements.push(text);
      return original.apply(this, args);
    };
    return;
  }
  const db = store.db.$client;
  const proto = Object.getPrototypeOf(db.prepare('select 1')) as Record<string, (...args: unknown[]) => unknown>;
  for (const method of ['get', 'all', 'run', 'iterate']) {
    const original = proto[method]!;
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      if (recording) statements.push(this.source);
      return original.apply(this, args);
    };
  }
}

interface Exchange {
  status: number;
  headers: Record<string, string>;
  /** The raw body with the id replaced: byte for byte, not only the parsed JSON. */
  text: string;
  statements: string[];
}

async function exchange(send: () => Promise<HttpAnswer>, id: string): Promise<Exchange> {
  statements.length = 0;
  recording = true;
  let answer: HttpAnswer;
  try {
    answer = await send();
  } finally {
    recording = false;
  }
  // The date and the request's own id (a new one for every request) differ whatever the id asked for.
  const headers = Object.fromEntries([...answer.headers].filter(([name]) => name !== 'date' && name !== 'x-request-id'));
  return { status: answer.status, headers, text: answer.text.split(id).join('<ID>'), statements: [...statements] };
}

// ---------------------------------------------------------------- operations

/** Alice's whole visible state, read with her key. */
const ALICE_VIEW = /* GraphQL */ `
  query {
    assistants(first: 50) { edges { node { id name model instructions temperature metadata createdAt updatedAt } } }
    threads(first: 50) {
      edges { node {
        id title metadata createdAt updatedAt lastEventSeq assistant { id }
        activeRun { id status }
        messages(first: 50) { edges { node { id role content status metadata run { id } } } }
        runs(first: 50) { edges { node { id status model error { code message } reply { id } } } }
      } }
    }
  }
`;

type Kind = 'asst' | 'thread' | 'msg' | 'run';

interface Case {
  name: string;
  kind: Kind;
  /** Which of alice's ids of that kind to use. */
  target: keyof AliceIds;
  query: string;
  variables: (id: string) => Record<string, unknown>;
}

interface AliceIds {
  assistant: string;
  thread: string;
  busyThread: string;
  userMessage: string;
  replyMessage: string;
  run: string;
  busyRun: string;
}

const HTTP_CASES: Case[] = [
  { name: 'assistant(id)', kind: 'asst', target: 'assistant', query: 'query ($id: ID!) { assistant(id: $id) { id name } }', variables: (id) => ({ id }) },
  { name: 'thread(id)', kind: 'thread', target: 'thread', query: 'query ($id: ID!) { thread(id: $id) { id title messages(first: 5) { edges { node { content } } } } }', variables: (id) => ({ id }) },
  { name: 'run(id)', kind: 'run', target: 'run', query: 'query ($id: ID!) { run(id: $id) { id status reply { content } } }', variables: (id) => ({ id }) },
  { name: 'run(id) of an active run', kind: 'run', target: 'busyRun', query: 'query ($id: ID!) { run(id: $id) { id status } }', variables: (id) => ({ id }) },
  { name: 'node(id): Assistant', kind: 'asst', target: 'assistant', query: 'query ($id: ID!) { node(id: $id) { id ... on Assistant { name } } }', variables: (id) => ({ id }) },
  { name: 'node(id): Thread', kind: 'thread', target: 'thread', query: 'query ($id: ID!) { node(id: $id) { id ... on Thread { title } } }', variables: (id) => ({ id }) },
  { name: 'node(id): Message (user)', kind: 'msg', target: 'userMessage', query: 'query ($id: ID!) { node(id: $id) { id ... on Message { content } } }', variables: (id) => ({ id }) },
  { name: 'node(id): Message (reply)', kind: 'msg', target: 'replyMessage', query: 'query ($id: ID!) { node(id: $id) { id ... on Message { content } } }', variables: (id) => ({ id }) },
  { name: 'node(id): Run', kind: 'run', target: 'run', query: 'query ($id: ID!) { node(id: $id) { id ... on Run { status } } }', variables: (id) => ({ id }) },
  {
    name: 'updateAssistant',
    kind: 'asst',
    target: 'assistant',
    query: 'mutation ($id: ID!) { updateAssistant(input: { assistantId: $id, name: "pwned", instructions: "leak" }) { assistant { id name } } }',
    variables: (id) => ({ id }),
  },
  {
    name: 'updateThread',
    kind: 'thread',
    target: 'thread',
    query: 'mutation ($id: ID!) { updateThread(input: { threadId: $id, title: "pwned", metadata: { owner: "bob" } }) { thread { id title } } }',
    variables: (id) => ({ id }),
  },
  ...(['REJECT', 'ENQUEUE', 'INTERRUPT'] as const).flatMap((mode): Case[] => [
    {
      name: `sendMessage (onActiveRun: ${mode}) on an idle thread`,
      kind: 'thread',
      target: 'thread',
      query: `mutation ($id: ID!) { sendMessage(input: { threadId: $id, content: "bob was here", onActiveRun: ${mode} }) { message { id } run { id } } }`,
      variables: (id) => ({ id }),
    },
    {
      name: `sendMessage (onActiveRun: ${mode}) on a thread with an active run`,
      kind: 'thread',
      target: 'busyThread',
      query: `mutation ($id: ID!) { sendMessage(input: { threadId: $id, content: "bob was here", onActiveRun: ${mode} }) { message { id } run { id } } }`,
      variables: (id) => ({ id }),
    },
  ]),
  {
    name: 'sendMessage reusing alice\'s idempotencyKey',
    kind: 'thread',
    target: 'thread',
    query: 'mutation ($id: ID!) { sendMessage(input: { threadId: $id, content: "first", idempotencyKey: "alice-1" }) { message { id content } run { id } } }',
    variables: (id) => ({ id }),
  },
  { name: 'cancelRun (finished run)', kind: 'run', target: 'run', query: 'mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { id status } } }', variables: (id) => ({ id }) },
  { name: 'cancelRun (active run)', kind: 'run', target: 'busyRun', query: 'mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { id status } } }', variables: (id) => ({ id }) },
  {
    name: 'createThread with alice\'s assistantId (no run)',
    kind: 'asst',
    target: 'assistant',
    query: 'mutation ($id: ID!) { createThread(input: { assistantId: $id, title: "bob" }) { thread { id } } }',
    variables: (id) => ({ id }),
  },
  {
    name: 'createThread with alice\'s assistantId (starting a run)',
    kind: 'asst',
    target: 'assistant',
    query: 'mutation ($id: ID!) { createThread(input: { assistantId: $id, messages: [{ role: USER, content: "use alice\'s instructions" }] }) { thread { id } run { id } } }',
    variables: (id) => ({ id }),
  },
  // Destructive ones last: if one of them wrongly succeeded, the earlier cases still ran on intact data.
  { name: 'deleteThread (idle)', kind: 'thread', target: 'thread', query: 'mutation ($id: ID!) { deleteThread(input: { threadId: $id }) { deletedThreadId } }', variables: (id) => ({ id }) },
  { name: 'deleteThread (active run)', kind: 'thread', target: 'busyThread', query: 'mutation ($id: ID!) { deleteThread(input: { threadId: $id }) { deletedThreadId } }', variables: (id) => ({ id }) },
  { name: 'deleteAssistant', kind: 'asst', target: 'assistant', query: 'mutation ($id: ID!) { deleteAssistant(input: { assistantId: $id }) { deletedAssistantId } }', variables: (id) => ({ id }) },
];

const SUBSCRIPTION_CASES: Case[] = [
  { name: 'runEvents (finished run)', kind: 'run', target: 'run', query: `subscription ($id: ID!) { runEvents(runId: $id) { ${EVENT_FIELDS} } }`, variables: (id) => ({ id }) },
  { name: 'runEvents (active run)', kind: 'run', target: 'busyRun', query: `subscription ($id: ID!) { runEvents(runId: $id) { ${EVENT_FIELDS} } }`, variables: (id) => ({ id }) },
  { name: 'threadEvents (live)', kind: 'thread', target: 'thread', query: `subscription ($id: ID!) { threadEvents(threadId: $id) { ${EVENT_FIELDS} } }`, variables: (id) => ({ id }) },
  { name: 'threadEvents (replay after: 0)', kind: 'thread', target: 'thread', query: `subscription ($id: ID!) { threadEvents(threadId: $id, after: 0) { ${EVENT_FIELDS} } }`, variables: (id) => ({ id }) },
  { name: 'threadEvents (active run, after: 0)', kind: 'thread', target: 'busyThread', query: `subscription ($id: ID!) { threadEvents(threadId: $id, after: 0) { ${EVENT_FIELDS} } }`, variables: (id) => ({ id }) },
];

// ---------------------------------------------------------------- tests

describe('isolation between owners: bob on alice\'s ids answers exactly like an unknown id', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let aliceKey: string;
  let bobKey: string;
  const alice = {} as AliceIds;
  const release = deferred();
  let aliceViewBefore: unknown;
  let providerRequestsBefore: number;

  const asAlice = (query: string, variables?: Record<string, unknown>) => post(server.url, aliceKey, query, variables);
  const asBob = (query: string, variables?: Record<string, unknown>) => post(server.url, bobKey, query, variables);

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake });
    aliceKey = (await createApiKey(server.services.store.keys, 'alice')).key;
    bobKey = (await createApiKey(server.services.store.keys, 'bob')).key;
    recordStatements(server.services.store);

    const asst = await asAlice(
      'mutation { createAssistant(input: { name: "Alice\'s secret assistant", instructions: "alice-only instructions", metadata: { team: "alice" } }) { assistant { id } } }',
    );
    expect(asst.body.errors).toBeUndefined();
    alice.assistant = asst.body.data.createAssistant.assistant.id;

    fake.setDefault({ text: 'Alice private reply.' });
    const created = await asAlice(
      `mutation ($a: ID!) { createThread(input: { assistantId: $a, title: "alice private", metadata: { team: "alice" }, messages: [{ role: USER, content: "alice secret question" }] }) {
        thread { id } run { id } reply { id content status } } }`,
      { a: alice.assistant },
    );
    expect(created.body.errors).toBeUndefined();
    alice.thread = created.body.data.createThread.thread.id;
    alice.run = created.body.data.createThread.run.id;
    alice.replyMessage = created.body.data.createThread.reply.id;
    expect(created.body.data.createThread.reply).toMatchObject({ content: 'Alice private reply.', status: 'COMPLETED' });
    const msgs = await asAlice('query ($t: ID!) { thread(id: $t) { messages(first: 5) { edges { node { id role } } } } }', { t: alice.thread });
    alice.userMessage = msgs.body.data.thread.messages.edges.find((e: any) => e.node.role === 'USER').node.id;

    // A second message with an idempotency key, so bob can try to reuse it.
    const second = await asAlice('mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "first", idempotencyKey: "alice-1" }) { run { id } reply { status } } }', {
      t: alice.thread,
    });
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data.sendMessage.reply.status).toBe('COMPLETED');

    // A thread whose run stays IN_PROGRESS (paused mid-stream) until the end of the test.
    fake.enqueue({ chunks: ['Busy ', 'alice ', 'reply.'], pauseAfter: 1, resumeWhen: release.promise });
    const busy = await asAlice('mutation { createThread(input: { title: "alice busy", messages: [{ role: USER, content: "long task" }] }) { thread { id } run { id } } }');
    expect(busy.body.errors).toBeUndefined();
    alice.busyThread = busy.body.data.createThread.thread.id;
    alice.busyRun = busy.body.data.createThread.run.id;
    await waitUntil(async () => (await asAlice('query ($r: ID!) { run(id: $r) { status reply { content } } }', { r: alice.busyRun })).body.data.run.reply?.content === 'Busy ', 'the busy run to stream its first chunk');

    // Bob has data of his own, so empty lists are not trivially empty.
    const bobAsst = await asBob('mutation { createAssistant(input: { name: "bob asst" }) { assistant { id } } }');
    const bobThread = await asBob('mutation ($a: ID!) { createThread(input: { assistantId: $a, title: "bob thread", metadata: { team: "alice" } }) { thread { id } } }', {
      a: bobAsst.body.data.createAssistant.assistant.id,
    });
    expect(bobThread.body.errors).toBeUndefined();

    aliceViewBefore = (await asAlice(ALICE_VIEW)).body;
    providerRequestsBefore = fake.requests.length;
  });

  afterAll(async () => {
    release.resolve();
    await server?.stop();
    await fake?.close();
    removeTempDirs();
  });

  it.each(HTTP_CASES)('$name', async (c) => {
    const aliceId = alice[c.target];
    const unknownId = randomId(c.kind);
    const onAlice = await asBob(c.query, c.variables(aliceId));
    const onUnknown = await asBob(c.query, c.variables(unknownId));

    expect(onUnknown.status).toBe(200);
    expect(onUnknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(onUnknown.body.errors?.[0]?.message).toContain(unknownId);
    // Identical, modulo the id: message, code, path, locations, data, HTTP status.
    expect(normalize(onAlice, aliceId)).toEqual(normalize(onUnknown, unknownId));
    expect(JSON.stringify(onAlice.body)).not.toMatch(/Alice private|alice secret|alice-only|alice busy|Busy alice/i);
  });

  it.each(SUBSCRIPTION_CASES)('$name over SSE', async (c) => {
    const aliceId = alice[c.target];
    const unknownId = randomId(c.kind);
    const [onAlice, onUnknown] = await Promise.all([
      sseAnswer(server.url, bobKey, c.query, c.variables(aliceId)),
      sseAnswer(server.url, bobKey, c.query, c.variables(unknownId)),
    ]);
    expect(onUnknown).not.toHaveProperty('timedOut');
    expect(JSON.stringify(onUnknown)).toContain('NOT_FOUND');
    expect(normalize(onAlice, aliceId)).toEqual(normalize(onUnknown, unknownId));
  });

  it.each(SUBSCRIPTION_CASES)('$name over WebSocket', async (c) => {
    const aliceId = alice[c.target];
    const unknownId = randomId(c.kind);
    const [onAlice, onUnknown] = await Promise.all([
      wsAnswer(server.url, bobKey, c.query, c.variables(aliceId)),
      wsAnswer(server.url, bobKey, c.query, c.variables(unknownId)),
    ]);
    expect(onUnknown).not.toHaveProperty('outcome.timedOut');
    expect(JSON.stringify(onUnknown)).toContain('NOT_FOUND');
    expect(normalize(onAlice, aliceId)).toEqual(normalize(onUnknown, unknownId));
  });

  it('lists show none of alice\'s objects: threads, assistants, threads(assistantId: alice\'s), threads(metadata: alice\'s)', async () => {
    const lists = await asBob(
      `query ($a: ID!, $u: ID!) {
        threads(first: 50) { edges { node { id title } } }
        assistants(first: 50) { edges { node { id name } } }
        ofAlice: threads(first: 50, assistantId: $a) { edges { node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
        ofUnknown: threads(first: 50, assistantId: $u) { edges { node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
        byMeta: threads(first: 50, metadata: { team: "alice" }) { edges { node { id title } } }
        last: threads(last: 50) { edges { node { id } } }
      }`,
      { a: alice.assistant, u: randomId('asst') },
    );
    expect(lists.body.errors).toBeUndefined();
    const text = JSON.stringify(lists.body);
    for (const id of Object.values(alice)) expect(text).not.toContain(id);
    expect(lists.body.data.threads.edges.map((e: any) => e.node.title)).toEqual(['bob thread']);
    expect(lists.body.data.assistants.edges.map((e: any) => e.node.name)).toEqual(['bob asst']);
    expect(lists.body.data.ofAlice).toEqual(lists.body.data.ofUnknown);
    expect(lists.body.data.ofAlice.edges).toEqual([]);
    // bob's own thread carries team: alice too; alice's threads must not.
    expect(lists.body.data.byMeta.edges.map((e: any) => e.node.title)).toEqual(['bob thread']);
    expect(lists.body.data.last.edges).toHaveLength(1);
  });

  it('bob\'s own objects do not lead to alice\'s: a cursor from alice\'s list does not page into it for bob', async () => {
    const aliceList = await asAlice('{ threads(first: 1) { pageInfo { endCursor } } }');
    const cursor = aliceList.body.data.threads.pageInfo.endCursor;
    const bobPage = await asBob('query ($c: String!) { threads(first: 50, after: $c) { edges { node { id } } } before: threads(last: 50, before: $c) { edges { node { id } } } }', { c: cursor });
    const text = JSON.stringify(bobPage.body);
    for (const id of Object.values(alice)) expect(text).not.toContain(id);
  });

  // Instead of timing (two ~1 ms means compared within 3 ms, which passed whatever happened):
  // what a timing difference would come from. The same bytes, the same headers, and the same
  // database statements in the same order, so no lookup is skipped or added for alice's ids.
  it.each(HTTP_CASES)('$name: same bytes, headers and database statements as on an unknown id', async (c) => {
    const aliceId = alice[c.target];
    const attempts: { onAlice: Exchange; onUnknown: Exchange }[] = [];
    // A statement of a background timer can land in one exchange: a real difference shows in
    // every attempt, such noise in at most one or two.
    for (let i = 0; i < 3; i++) {
      const unknownId = randomId(c.kind);
      const onAlice = await exchange(() => asBob(c.query, c.variables(aliceId)), aliceId);
      const onUnknown = await exchange(() => asBob(c.query, c.variables(unknownId)), unknownId);
      attempts.push({ onAlice, onUnknown });
      if (JSON.stringify(onAlice) === JSON.stringify(onUnknown)) break;
    }
    const last = attempts.at(-1)!;
    expect(last.onAlice.statements.length, 'no statement was recorded: the counter is not counting').toBeGreaterThan(0);
    expect(last.onAlice).toEqual(last.onUnknown);
  });

  it('afterwards alice\'s data is unchanged, her active run was neither cancelled nor joined, and no provider call was made for bob', async () => {
    const after = await asAlice(ALICE_VIEW);
    expect(after.body).toEqual(aliceViewBefore);
    expect(fake.requests.length).toBe(providerRequestsBefore);
    // No row of alice's threads belongs to bob or was written by him.
    const foreign = await rawSql(
      server,
      `select count(*)::int as n from messages where thread_id in (select id from threads where owner = 'alice') and (owner != 'alice' or content like '%bob%')`,
    );
    expect(foreign).toEqual([{ n: 0 }]);
    const foreignRuns = await rawSql(server, `select count(*)::int as n from runs where thread_id in (select id from threads where owner = 'alice') and owner != 'alice'`);
    expect(foreignRuns).toEqual([{ n: 0 }]);

    // The busy run ends normally once the provider goes on.
    release.resolve();
    await waitUntil(async () => (await asAlice('query ($r: ID!) { run(id: $r) { status } }', { r: alice.busyRun })).body.data.run.status === 'COMPLETED', 'alice\'s busy run to complete');
    const busy = await asAlice('query ($t: ID!) { thread(id: $t) { messages(first: 10) { edges { node { role content status } } } runs(first: 10) { edges { node { status } } } } }', {
      t: alice.busyThread,
    });
    expect(busy.body.data.thread.messages.edges.map((e: any) => e.node)).toEqual([
      { role: 'USER', content: 'long task', status: 'COMPLETED' },
      { role: 'ASSISTANT', content: 'Busy alice reply.', status: 'COMPLETED' },
    ]);
    expect(busy.body.data.thread.runs.edges.map((e: any) => e.node.status)).toEqual(['COMPLETED']);
  });
});
