import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { codeOf, createAssistant, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';

const CREATE_THREAD = /* GraphQL */ `
  mutation CreateThread($input: CreateThreadInput!) {
    createThread(input: $input) {
      thread { id title metadata createdAt updatedAt assistant { id } messages { edges { node { id role content status run { id } } } } }
      run { id status }
    }
  }
`;

const ids = (connection: { edges: { node: { id: string } }[] }) => connection.edges.map((e) => e.node.id);

describe('threads', () => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider()));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  async function createThread(input: Record<string, unknown>) {
    const res = await server.gql(CREATE_THREAD, { input });
    expect(res.errors).toBeUndefined();
    return res.data.createThread as { thread: any; run: any };
  }

  it('createThread without messages stores an empty thread and starts no run', async () => {
    const { thread, run } = await createThread({ title: 'Empty', metadata: { k: 'v' } });
    expect(thread.id).toMatch(/^thread_[0-9a-z]{9}[A-Za-z0-9_-]{22}$/);
    expect(thread).toMatchObject({ title: 'Empty', metadata: { k: 'v' }, assistant: null, messages: { edges: [] } });
    expect(run).toBeNull();
    const read = await server.gql(`query ($id: ID!) { thread(id: $id) { id activeRun { id } runs { edges { node { id } } } } }`, { id: thread.id });
    expect(read.data.thread).toEqual({ id: thread.id, activeRun: null, runs: { edges: [] } });
    expect(fake.requests).toHaveLength(0);
  });

  it('createThread with messages ending in ASSISTANT stores them in order and starts no run', async () => {
    const res = await server.gql(
      `mutation ($input: CreateThreadInput!) { createThread(input: $input) { thread { id messages { edges { node { role content status run { id } } } } runs { edges { node { id } } } } run { id } reply { id } } }`,
      {
        input: {
          messages: [
            { role: 'SYSTEM', content: 'Be kind.' },
            { role: 'USER', content: 'Hello' },
            { role: 'ASSISTANT', content: 'Hi there' },
          ],
        },
      },
    );
    expect(res.errors).toBeUndefined();
    const { thread, run, reply } = res.data.createThread;
    expect(run).toBeNull();
    expect(reply).toBeNull();
    expect(thread.messages.edges.map((e: any) => e.node)).toEqual([
      { role: 'SYSTEM', content: 'Be kind.', status: 'COMPLETED', run: null },
      { role: 'USER', content: 'Hello', status: 'COMPLETED', run: null },
      { role: 'ASSISTANT', content: 'Hi there', status: 'COMPLETED', run: null },
    ]);
    expect(thread.runs.edges).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });

  it('createThread with messages ending in USER starts a run answered by the provider', async () => {
    fake.setDefault({ text: 'Started.' });
    const res = await server.gql(
      `mutation { createThread(input: { messages: [{ role: USER, content: "Go" }] }) { thread { id } run { id status } reply { content run { id status } } } }`,
    );
    expect(res.errors).toBeUndefined();
    const { run, reply } = res.data.createThread;
    expect(run.id).toMatch(/^run_/);
    expect(['QUEUED', 'IN_PROGRESS']).toContain(run.status);
    expect(reply).toEqual({ content: 'Started.', run: { id: run.id, status: 'COMPLETED' } });
    expect(fake.requests).toHaveLength(1);
  });

  it('a sent message moves the thread updatedAt to the time it was written (set with the thread seqs)', async () => {
    const { thread } = await createThread({ title: 'Touched' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const sent = await server.gql(`mutation ($id: ID!) { sendMessage(input: { threadId: $id, content: "hi" }) { message { createdAt } reply { status } } }`, { id: thread.id });
    expect(sent.errors).toBeUndefined();
    const read = await server.gql(`query ($id: ID!) { thread(id: $id) { createdAt updatedAt } }`, { id: thread.id });
    expect(read.data.thread.createdAt).toBe(thread.createdAt);
    expect(read.data.thread.updatedAt).toBe(sent.data.sendMessage.message.createdAt);
    expect(Date.parse(read.data.thread.updatedAt)).toBeGreaterThan(Date.parse(thread.updatedAt));
  });

  it('the reply a mutation returns when its run ended here (the row its final transaction wrote) is the stored message, field for field', async () => {
    const FIELDS = 'id role content status refusal createdAt metadata run { id status }';
    fake.setDefault({ chunks: ['One ', 'two ', 'three.'] });
    const sent = await server.gql(`mutation { createThread(input: { messages: [{ role: USER, content: "count" }] }) { reply { ${FIELDS} } } }`);
    expect(sent.errors).toBeUndefined();
    const reply = sent.data.createThread.reply;
    expect(reply).toMatchObject({ role: 'ASSISTANT', content: 'One two three.', status: 'COMPLETED', run: { status: 'COMPLETED' } });
    const read = await server.gql(`query ($id: ID!) { node(id: $id) { ... on Message { ${FIELDS} } } }`, { id: reply.id });
    expect(read.data.node).toEqual(reply);
  });

  it('updateThread changes the title and replaces the metadata; omitted fields keep their value', async () => {
    const { thread } = await createThread({ title: 'Old title', metadata: { a: '1', b: '2' } });
    const UPDATE = `mutation ($input: UpdateThreadInput!) { updateThread(input: $input) { thread { id title metadata createdAt updatedAt } } }`;

    const titled = await server.gql(UPDATE, { input: { threadId: thread.id, title: 'New title' } });
    expect(titled.errors).toBeUndefined();
    expect(titled.data.updateThread.thread).toMatchObject({ id: thread.id, title: 'New title', metadata: { a: '1', b: '2' }, createdAt: thread.createdAt });

    const tagged = await server.gql(UPDATE, { input: { threadId: thread.id, metadata: { c: '3' } } });
    expect(tagged.errors).toBeUndefined();
    expect(tagged.data.updateThread.thread).toMatchObject({ title: 'New title', metadata: { c: '3' } });
    expect(Date.parse(tagged.data.updateThread.thread.updatedAt)).toBeGreaterThanOrEqual(Date.parse(thread.updatedAt));

    const read = await server.gql(`query ($id: ID!) { thread(id: $id) { title metadata } }`, { id: thread.id });
    expect(read.data.thread).toEqual({ title: 'New title', metadata: { c: '3' } });

    const missing = await server.gql(UPDATE, { input: { threadId: 'thread_AAAAAAAAAAAAAAAAAAAAAA', title: 'x' } });
    expect(codeOf(missing)).toBe('NOT_FOUND');
  });

  it('deleteThread removes the thread with its messages and runs', async () => {
    fake.setDefault({ text: 'Soon gone.' });
    const res = await server.gql(
      `mutation { createThread(input: { messages: [{ role: USER, content: "Delete me" }] }) { thread { id } run { id } message: thread { messages { edges { node { id } } } } reply { id } } }`,
    );
    expect(res.errors).toBeUndefined();
    const { thread, run, reply } = res.data.createThread;
    const [userMessageId] = ids(res.data.createThread.message.messages);
    expect(reply.id).toMatch(/^msg_/);

    const del = await server.gql(`mutation ($id: ID!) { deleteThread(input: { threadId: $id }) { deletedThreadId } }`, { id: thread.id });
    expect(del.errors).toBeUndefined();
    expect(del.data.deleteThread.deletedThreadId).toBe(thread.id);

    for (const id of [thread.id, userMessageId, reply.id, run.id]) {
      const node = await server.gql(`query ($id: ID!) { node(id: $id) { id } }`, { id });
      expect(codeOf(node), `node(${id})`).toBe('NOT_FOUND');
    }
    expect(codeOf(await server.gql(`query ($id: ID!) { run(id: $id) { id } }`, { id: run.id }))).toBe('NOT_FOUND');
    expect(codeOf(await server.gql(`query ($id: ID!) { thread(id: $id) { id } }`, { id: thread.id }))).toBe('NOT_FOUND');
    const again = await server.gql(`mutation ($id: ID!) { deleteThread(input: { threadId: $id }) { deletedThreadId } }`, { id: thread.id });
    expect(codeOf(again)).toBe('NOT_FOUND');
    const listed = await server.gql(`{ threads(first: 100) { edges { node { id } } } }`);
    expect(ids(listed.data.threads)).not.toContain(thread.id);
  });

  it('deleteThread during a run cancels the run first; the pending reply resolves to the partial reply as it ended, without an error', async () => {
    let resume!: () => void;
    fake.setDefault({ text: 'one two three four', pauseAfter: 2, resumeWhen: new Promise<void>((r) => (resume = r)) });
    const pending = server.gql(
      `mutation { createThread(input: { messages: [{ role: USER, content: "Long one" }] }) { thread { id } run { id } reply { id } } }`,
    );
    try {
      await fake.waitForRequests(1);
      const listed = await server.gql(`{ threads(first: 1) { edges { node { id activeRun { id status } } } } }`);
      const thread = listed.data.threads.edges[0].node;
      expect(thread.activeRun.status).toBe('IN_PROGRESS');

      const del = await server.gql(`mutation ($id: ID!) { deleteThread(input: { threadId: $id }) { deletedThreadId } }`, { id: thread.id });
      expect(del.errors).toBeUndefined();
      await fake.waitForAborted(1);

      const res = await pending;
      expect(res.errors).toBeUndefined();
      expect(res.data.createThread.thread.id).toBe(thread.id);
      // The run ended CANCELLED before the thread went: the reply is its partial message as it ended.
      expect(res.data.createThread.reply.id).toMatch(/^msg_/);
      const run = await server.gql(`query ($id: ID!) { run(id: $id) { id } }`, { id: thread.activeRun.id });
      expect(codeOf(run)).toBe('NOT_FOUND');
    } finally {
      resume();
    }
  });

  // Inline object literals reach resolvers as null-prototype objects (graphql-scalars' parseLiteral),
  // unlike variables (JSON.parse): each path that stores metadata must accept both.
  describe('metadata written as an inline literal (not a variable) is stored like one given in variables', () => {
    it('createThread (thread and message metadata)', async () => {
      const created = await server.gql(
        `mutation { createThread(input: { title: "Literal", metadata: { source: "inline", n: "1" }, messages: [{ role: ASSISTANT, content: "Hi", metadata: { kind: "greeting" } }] }) {
          thread { id metadata messages { edges { node { metadata } } } } } }`,
      );
      expect(created.errors).toBeUndefined();
      expect(created.data.createThread.thread.metadata).toEqual({ source: 'inline', n: '1' });
      expect(created.data.createThread.thread.messages.edges[0].node.metadata).toEqual({ kind: 'greeting' });
    });

    it('updateThread', async () => {
      const { thread } = await createThread({ title: 'Literal update', metadata: { source: 'variables' } });
      const updated = await server.gql(
        `mutation ($id: ID!) { updateThread(input: { threadId: $id, metadata: { source: "edited-literal" } }) { thread { metadata } } }`,
        { id: thread.id },
      );
      expect(updated.errors).toBeUndefined();
      expect(updated.data.updateThread.thread.metadata).toEqual({ source: 'edited-literal' });
    });

    it('sendMessage', async () => {
      fake.setDefault({ text: 'Noted.' });
      const { thread } = await createThread({ title: 'Literal send' });
      const sent = await server.gql(
        `mutation ($id: ID!) { sendMessage(input: { threadId: $id, content: "tagged", metadata: { client: "cli" } }) { message { metadata } reply { status } } }`,
        { id: thread.id },
      );
      expect(sent.errors).toBeUndefined();
      expect(sent.data.sendMessage.message.metadata).toEqual({ client: 'cli' });
    });

    it('the threads filter', async () => {
      const tag = randomUUID();
      const { thread } = await createThread({ metadata: { tag } });
      const filtered = await server.gql(`{ threads(metadata: { tag: "${tag}" }) { edges { node { id } } } }`);
      expect(filtered.errors).toBeUndefined();
      expect(ids(filtered.data.threads)).toEqual([thread.id]);
    });
  });

  it('threads lists newest first', async () => {
    const tag = randomUUID();
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await createThread({ title: `order ${i}`, metadata: { tag } })).thread.id);

    const filtered = await server.gql(`query ($m: JSONObject) { threads(metadata: $m) { edges { node { id title } } } }`, { m: { tag } });
    expect(filtered.errors).toBeUndefined();
    expect(ids(filtered.data.threads)).toEqual([...created].reverse());

    const all = await server.gql(`{ threads(first: 3) { edges { node { id } } } }`);
    expect(ids(all.data.threads)).toEqual([...created].reverse());
  });

  it('threads filters by assistantId', async () => {
    const a = await createAssistant(server, { name: 'A' });
    const b = await createAssistant(server, { name: 'B' });
    const a1 = (await createThread({ assistantId: a, title: 'a1' })).thread.id;
    const b1 = (await createThread({ assistantId: b, title: 'b1' })).thread.id;
    const a2 = (await createThread({ assistantId: a, title: 'a2' })).thread.id;
    await createThread({ title: 'none' });

    const ofA = await server.gql(`query ($a: ID!) { threads(assistantId: $a) { edges { node { id assistant { id } } } } }`, { a });
    expect(ofA.errors).toBeUndefined();
    expect(ids(ofA.data.threads)).toEqual([a2, a1]);
    expect(ofA.data.threads.edges.every((e: any) => e.node.assistant.id === a)).toBe(true);

    const ofB = await server.gql(`query ($a: ID!) { threads(assistantId: $a) { edges { node { id } } } }`, { a: b });
    expect(ids(ofB.data.threads)).toEqual([b1]);

    const viaAssistant = await server.gql(`query ($a: ID!) { assistant(id: $a) { threads { edges { node { id } } } } }`, { a });
    expect(ids(viaAssistant.data.assistant.threads)).toEqual([a2, a1]);
  });

  it('threads filters by metadata: one key, and two keys (all must match)', async () => {
    const env = `prod-${randomUUID()}`;
    const prodX = (await createThread({ metadata: { env, team: 'x' } })).thread.id;
    const prodY = (await createThread({ metadata: { env, team: 'y' } })).thread.id;
    const devX = (await createThread({ metadata: { env: `dev-${env}`, team: 'x' } })).thread.id;
    const Q = `query ($m: JSONObject) { threads(first: 100, metadata: $m) { edges { node { id metadata } } } }`;

    const one = await server.gql(Q, { m: { env } });
    expect(one.errors).toBeUndefined();
    expect(ids(one.data.threads)).toEqual([prodY, prodX]);

    const two = await server.gql(Q, { m: { env, team: 'x' } });
    expect(two.errors).toBeUndefined();
    expect(ids(two.data.threads)).toEqual([prodX]);

    const teamX = await server.gql(Q, { m: { team: 'x' } });
    expect(ids(teamX.data.threads)).toEqual(expect.arrayContaining([prodX, devX]));
    expect(ids(teamX.data.threads)).not.toContain(prodY);

    const none = await server.gql(Q, { m: { env, team: 'z' } });
    expect(none.data.threads.edges).toEqual([]);
  });

  it('node(id) resolves every type, with its __typename', async () => {
    fake.setDefault({ text: 'Node reply.' });
    const assistantId = await createAssistant(server, { name: 'Noder' });
    const res = await server.gql(
      `mutation ($a: ID!) { createThread(input: { assistantId: $a, messages: [{ role: USER, content: "Node me" }] }) {
        thread { id messages { edges { node { id } } } } run { id } reply { id } } }`,
      { a: assistantId },
    );
    expect(res.errors).toBeUndefined();
    const { thread, run, reply } = res.data.createThread;
    const userMessageId = thread.messages.edges[0].node.id;

    const NODE = `query ($id: ID!) { node(id: $id) {
      __typename id
      ... on Assistant { name }
      ... on Thread { messages { edges { node { id } } } }
      ... on Message { role content }
      ... on Run { status }
    } }`;
    const expected: [string, Record<string, unknown>][] = [
      [assistantId, { __typename: 'Assistant', id: assistantId, name: 'Noder' }],
      [thread.id, { __typename: 'Thread', id: thread.id, messages: { edges: [{ node: { id: userMessageId } }, { node: { id: reply.id } }] } }],
      [userMessageId, { __typename: 'Message', id: userMessageId, role: 'USER', content: 'Node me' }],
      [reply.id, { __typename: 'Message', id: reply.id, role: 'ASSISTANT', content: 'Node reply.' }],
      [run.id, { __typename: 'Run', id: run.id, status: 'COMPLETED' }],
    ];
    for (const [id, node] of expected) {
      const r = await server.gql(NODE, { id });
      expect(r.errors, id).toBeUndefined();
      expect(r.data.node).toEqual(node);
    }
  });

  it('node(id) of an unknown or garbage id answers NOT_FOUND', async () => {
    for (const id of ['thread_AAAAAAAAAAAAAAAAAAAAAA', 'msg_AAAAAAAAAAAAAAAAAAAAAA', 'run_AAAAAAAAAAAAAAAAAAAAAA', 'asst_AAAAAAAAAAAAAAAAAAAAAA', 'garbage', '', '_', 'user_123']) {
      const r = await server.gql(`query ($id: ID!) { node(id: $id) { __typename id } }`, { id });
      expect(codeOf(r), `node(${JSON.stringify(id)})`).toBe('NOT_FOUND');
      expect(r.data?.node ?? null).toBeNull();
    }
  });
});
