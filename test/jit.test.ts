import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { removeTempDirs, startTestServer, waitUntil, type TestServer } from './helpers.js';
import { CREATE_THREAD, RUN_FIELDS, THREAD } from './operations.js';

/**
 * Queries run on graphql-jit (src/jit.ts); the standard executor is the slow path. The same
 * operations on the same data, through an app with and one without the compiled queries, give
 * the same status and the same body — pages, nodes, scalars, nested loaders, and errors with
 * their codes, paths and extensions; operations jit does not take (mutations, @defer, variables
 * that do not coerce) are answered by the standard executor as before.
 */

let fake: FakeProvider;
let server: TestServer;
let threadId: string;
let runId: string;
let fast: ReturnType<typeof createApp>['yoga'];
let slow: ReturnType<typeof createApp>['yoga'];

beforeAll(async () => {
  fake = await startFakeProvider();
  server = await startTestServer({ provider: fake });
  fake.enqueue({ text: 'A reply from the model.' });
  const created = await server.gql(CREATE_THREAD, {
    input: { title: 'jit', metadata: { team: 'a' }, messages: [{ role: 'ASSISTANT', content: 'Hello.' }, { role: 'USER', content: 'Say something.' }] },
  });
  threadId = created.data.createThread.thread.id;
  runId = created.data.createThread.run.id;
  await waitUntil(async () => (await server.gql(`query ($id: ID!) { run(id: $id) { status } }`, { id: runId })).data.run.status === 'COMPLETED', 'the run to complete', 5000);
  fast = createApp(server.services).yoga;
  slow = createApp(server.services, { jit: false }).yoga;
});
afterAll(async () => {
  await server?.stop();
  await fake?.close();
  removeTempDirs();
});

async function answer(yoga: typeof fast, body: unknown, accept = 'application/json') {
  const res = await yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });
  // Request ids differ from one request to the next.
  const text = (await res.text()).replace(/"requestId":"[^"]+"/g, '"requestId":"…"');
  return { status: res.status, body: text };
}

const PAGE = /* GraphQL */ `
  query Page($id: ID!, $last: Int, $before: String) {
    thread(id: $id) {
      id title metadata createdAt updatedAt lastEventSeq
      assistant { id }
      activeRun { id }
      usage { inputTokens outputTokens totalTokens }
      messages(last: $last, before: $before) {
        edges { cursor node { __typename id role content refusal status metadata createdAt run { id status model } thread { id } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
      runs(first: 5) { edges { node { ${RUN_FIELDS} } } }
    }
  }
`;

describe('queries on graphql-jit answer as the standard executor does', () => {
  it('the same status and body for each operation', async () => {
    const operations: { query: string; variables?: unknown; operationName?: string }[] = [
      { query: PAGE, variables: { id: threadId, last: 20 } },
      { query: PAGE, variables: { id: threadId, last: 1 } },
      { query: PAGE, variables: { id: threadId } },
      { query: THREAD, variables: { id: threadId } },
      { query: `query ($id: ID!) { node(id: $id) { __typename id ... on Thread { title } ... on Run { status } } }`, variables: { id: threadId } },
      { query: `query ($id: ID!) { node(id: $id) { __typename id ... on Run { status reply { content } } } }`, variables: { id: runId } },
      { query: `{ a: threads(first: 2) { edges { node { id } } pageInfo { hasNextPage } } b: assistants { edges { node { id } } } __typename }` },
      // Errors from resolvers: codes, paths, extensions.
      { query: `{ thread(id: "thread_AAAAAAAAAAAAAAAAAAAAAA") { id } }` },
      { query: `{ node(id: "nope") { id } }` },
      { query: PAGE, variables: { id: threadId, last: 1000 } },
      { query: PAGE, variables: { id: threadId, last: 5, before: 'not-a-cursor' } },
      { query: `query ($id: ID!) { thread(id: $id) { id } ok: threads(first: 1) { edges { node { id } } } }`, variables: { id: 'thread_AAAAAAAAAAAAAAAAAAAAAA' } },
      // Not taken by jit: variables that do not coerce, a missing one, a mutation, @defer.
      { query: PAGE, variables: { id: threadId, last: 'x' } },
      { query: PAGE, variables: {} },
      { query: `query A { threads(first: 1) { edges { node { id } } } } query B { assistants { edges { node { id } } } }`, operationName: 'B' },
      { query: `mutation ($id: ID!) { updateThread(input: { id: $id, title: "renamed" }) { thread { id title } } }`, variables: { id: 'thread_AAAAAAAAAAAAAAAAAAAAAA' } },
    ];
    for (const operation of operations) {
      const [a, b] = [await answer(fast, operation), await answer(slow, operation)];
      expect(a, operation.query.slice(0, 80)).toEqual(b);
    }
    const deferred = { query: `query ($id: ID!) { thread(id: $id) { id ... @defer { title } } }`, variables: { id: threadId } };
    const [a, b] = [await answer(fast, deferred, 'multipart/mixed'), await answer(slow, deferred, 'multipart/mixed')];
    expect(a.status).toBe(b.status);
    expect(a.body.replace(/-{3,}[^\r\n]*/g, '')).toBe(b.body.replace(/-{3,}[^\r\n]*/g, ''));
  });

  it('the page answers carry data (the comparison is not between two errors)', async () => {
    const res = JSON.parse((await answer(fast, { query: PAGE, variables: { id: threadId, last: 20 } })).body);
    expect(res.errors).toBeUndefined();
    expect(res.data.thread.messages.edges.map((e: { node: { role: string } }) => e.node.role)).toEqual(['ASSISTANT', 'USER', 'ASSISTANT']);
  });
});
