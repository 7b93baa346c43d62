import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeProvider, type RecordedRequest } from './fake-provider.js';
import { createAssistant, TEST_API_KEY, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';

const RUN_FIELDS = /* GraphQL */ `
  id status model createdAt startedAt completedAt
  error { code message }
  usage { inputTokens outputTokens totalTokens }
  reply { id role content status }
`;

const SEND = /* GraphQL */ `
  mutation Send($input: SendMessageInput!) {
    sendMessage(input: $input) {
      message { id role content status run { id } }
      run { id }
      reply { id content status run { ${RUN_FIELDS} } }
    }
  }
`;

const CREATE_THREAD = /* GraphQL */ `
  mutation CreateThread($input: CreateThreadInput!) {
    createThread(input: $input) {
      thread { id }
      run { id model }
      reply { id content status run { ${RUN_FIELDS} } }
    }
  }
`;

type Api = 'responses' | 'chat';

/** The instructions a request carried: Responses' `instructions`, or chat's leading system message. */
function instructionsOf(api: Api, req: RecordedRequest): string | undefined {
  if (api === 'responses') return req.body.instructions;
  const first = req.body.messages[0];
  return first?.role === 'system' ? first.content : undefined;
}

/** The conversation a request carried, as { role, content } in order (instructions left out). */
function historyOf(api: Api, req: RecordedRequest): { role: string; content: string }[] {
  const items: any[] = api === 'responses' ? req.body.input : req.body.messages;
  const all = items.map((m) => ({ role: m.role, content: typeof m.content === 'string' ? m.content : JSON.stringify(m.content) }));
  return api === 'chat' && instructionsOf(api, req) !== undefined ? all.slice(1) : all;
}

describe.each(['responses', 'chat'] as const)('continuing a conversation (LLM_API=%s)', (api) => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ llmApi: api })));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  const expectedPath = api === 'responses' ? '/v1/responses' : '/v1/chat/completions';

  async function send(input: Record<string, unknown>) {
    const res = await server.gql(SEND, { input });
    expect(res.errors).toBeUndefined();
    return res.data.sendMessage;
  }

  async function emptyThread(assistantId?: string): Promise<string> {
    const res = await server.gql(CREATE_THREAD, { input: { assistantId, title: 'Conversation' } });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.run).toBeNull();
    return res.data.createThread.thread.id;
  }

  it('sends the assistant\'s model, instructions and temperature, and the whole history in order', async () => {
    const assistantId = await createAssistant(server, { name: 'Terse', model: 'gpt-test-conv', instructions: 'You are terse.', temperature: 0.25 });
    fake.enqueue({ text: 'First answer.' }, { text: 'Second answer.' }, { text: 'Third answer.' });

    const created = await server.gql(CREATE_THREAD, { input: { assistantId, messages: [{ role: 'USER', content: 'Hello' }] } });
    expect(created.errors).toBeUndefined();
    expect(created.data.createThread.reply).toMatchObject({ content: 'First answer.', status: 'COMPLETED' });
    const threadId = created.data.createThread.thread.id;

    const second = await send({ threadId, content: 'How are you?' });
    expect(second.message).toMatchObject({ role: 'USER', content: 'How are you?', status: 'COMPLETED', run: { id: second.run.id } });
    expect(second.reply).toMatchObject({ content: 'Second answer.', status: 'COMPLETED', run: { id: second.run.id, status: 'COMPLETED', model: 'gpt-test-conv' } });

    const third = await send({ threadId, content: 'Bye' });
    expect(third.reply).toMatchObject({ content: 'Third answer.', status: 'COMPLETED' });

    expect(fake.requests).toHaveLength(3);
    for (const req of fake.requests) {
      expect(req.path).toBe(expectedPath);
      expect(req.body.model).toBe('gpt-test-conv');
      expect(req.body.stream).toBe(true);
      expect(req.body.temperature).toBe(0.25);
      expect(instructionsOf(api, req)).toBe('You are terse.');
      if (api === 'responses') expect(req.body.store).toBe(false);
      if (api === 'chat') expect(req.body.messages.filter((m: any) => m.role === 'system')).toHaveLength(1);
      expect(req.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`);
    }
    expect(historyOf(api, fake.requests[0]!)).toEqual([{ role: 'user', content: 'Hello' }]);
    expect(historyOf(api, fake.requests[1]!)).toEqual([
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'First answer.' },
      { role: 'user', content: 'How are you?' },
    ]);
    expect(historyOf(api, fake.requests[2]!)).toEqual([
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'First answer.' },
      { role: 'user', content: 'How are you?' },
      { role: 'assistant', content: 'Second answer.' },
      { role: 'user', content: 'Bye' },
    ]);

    const thread = await server.gql(`query ($id: ID!) { thread(id: $id) { messages { edges { node { role content status } } } } }`, { id: threadId });
    expect(thread.data.thread.messages.edges.map((e: any) => e.node)).toEqual([
      { role: 'USER', content: 'Hello', status: 'COMPLETED' },
      { role: 'ASSISTANT', content: 'First answer.', status: 'COMPLETED' },
      { role: 'USER', content: 'How are you?', status: 'COMPLETED' },
      { role: 'ASSISTANT', content: 'Second answer.', status: 'COMPLETED' },
      { role: 'USER', content: 'Bye', status: 'COMPLETED' },
      { role: 'ASSISTANT', content: 'Third answer.', status: 'COMPLETED' },
    ]);
  });

  it('stored SYSTEM and ASSISTANT messages given to createThread are part of the history', async () => {
    fake.setDefault({ text: 'Continuing.' });
    const res = await server.gql(CREATE_THREAD, {
      input: {
        messages: [
          { role: 'SYSTEM', content: 'Speak like a pirate.' },
          { role: 'USER', content: 'Ahoy' },
          { role: 'ASSISTANT', content: 'Arr!' },
          { role: 'USER', content: 'Where is the treasure?' },
        ],
      },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.reply.content).toBe('Continuing.');
    expect(fake.requests).toHaveLength(1);
    const all = api === 'responses' ? fake.requests[0]!.body.input : fake.requests[0]!.body.messages;
    expect(all.map((m: any) => ({ role: m.role, content: m.content }))).toEqual([
      { role: 'system', content: 'Speak like a pirate.' },
      { role: 'user', content: 'Ahoy' },
      { role: 'assistant', content: 'Arr!' },
      { role: 'user', content: 'Where is the treasure?' },
    ]);
  });

  it('sendMessage model and instructions override the assistant\'s for that run only', async () => {
    const assistantId = await createAssistant(server, { model: 'gpt-assistant-model', instructions: 'Assistant instructions.' });
    const threadId = await emptyThread(assistantId);
    fake.setDefault({ text: 'ok' });

    const overridden = await send({ threadId, content: 'One', model: 'gpt-override', instructions: 'Override instructions.' });
    expect(overridden.reply.run).toMatchObject({ status: 'COMPLETED', model: 'gpt-override' });
    const plain = await send({ threadId, content: 'Two' });
    expect(plain.reply.run).toMatchObject({ status: 'COMPLETED', model: 'gpt-assistant-model' });

    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]!.body.model).toBe('gpt-override');
    expect(instructionsOf(api, fake.requests[0]!)).toBe('Override instructions.');
    expect(fake.requests[1]!.body.model).toBe('gpt-assistant-model');
    expect(instructionsOf(api, fake.requests[1]!)).toBe('Assistant instructions.');
  });

  it('createThread model and instructions override the assistant\'s for the first run', async () => {
    const assistantId = await createAssistant(server, { model: 'gpt-assistant-model', instructions: 'Assistant instructions.' });
    fake.setDefault({ text: 'ok' });
    const res = await server.gql(CREATE_THREAD, {
      input: { assistantId, model: 'gpt-first-run', instructions: 'First-run instructions.', messages: [{ role: 'USER', content: 'Hi' }] },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.run.model).toBe('gpt-first-run');
    expect(fake.requests[0]!.body.model).toBe('gpt-first-run');
    expect(instructionsOf(api, fake.requests[0]!)).toBe('First-run instructions.');
  });

  it('without an assistant or a model, DEFAULT_MODEL is sent, with no instructions and no temperature', async () => {
    fake.setDefault({ text: 'Default speaking.' });
    const res = await server.gql(CREATE_THREAD, { input: { messages: [{ role: 'USER', content: 'Who are you?' }] } });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.run.model).toBe('gpt-5.4-mini');
    expect(res.data.createThread.reply.run.model).toBe('gpt-5.4-mini');
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.body.model).toBe('gpt-5.4-mini');
    expect(instructionsOf(api, req)).toBeUndefined();
    expect('temperature' in req.body).toBe(false);
    expect(historyOf(api, req)).toEqual([{ role: 'user', content: 'Who are you?' }]);

    // sendMessage on a thread without an assistant: the default again, unless the input names a model.
    const threadId = res.data.createThread.thread.id;
    const next = await send({ threadId, content: 'Again' });
    expect(next.reply.run.model).toBe('gpt-5.4-mini');
    const named = await send({ threadId, content: 'With a model', model: 'gpt-named' });
    expect(named.reply.run.model).toBe('gpt-named');
    expect(fake.requests.map((r) => r.body.model)).toEqual(['gpt-5.4-mini', 'gpt-5.4-mini', 'gpt-named']);
  });

  it('a completed run has its status, model, usage and ordered timestamps; thread.usage sums the runs', async () => {
    fake.enqueue({ text: 'Counted reply.', usage: { input: 11, output: 7 } }, { text: 'Another.', usage: { input: 20, output: 3 } });
    const threadId = await emptyThread();
    const first = await send({ threadId, content: 'Count me', model: 'gpt-usage' });
    const run = first.reply.run;
    expect(run).toMatchObject({
      id: first.run.id,
      status: 'COMPLETED',
      model: 'gpt-usage',
      error: null,
      usage: { inputTokens: 11, outputTokens: 7, totalTokens: 18 },
      reply: { id: first.reply.id, role: 'ASSISTANT', content: 'Counted reply.', status: 'COMPLETED' },
    });
    const [created, started, completed] = [run.createdAt, run.startedAt, run.completedAt].map((t: string) => Date.parse(t));
    expect(Number.isNaN(created! + started! + completed!)).toBe(false);
    expect(created).toBeLessThanOrEqual(started!);
    expect(started).toBeLessThanOrEqual(completed!);

    await send({ threadId, content: 'And me' });
    const thread = await server.gql(
      `query ($id: ID!) { thread(id: $id) { activeRun { id } usage { inputTokens outputTokens totalTokens } runs { edges { node { id status usage { totalTokens } } } } } }`,
      { id: threadId },
    );
    expect(thread.errors).toBeUndefined();
    expect(thread.data.thread.activeRun).toBeNull();
    expect(thread.data.thread.usage).toEqual({ inputTokens: 31, outputTokens: 10, totalTokens: 41 });
    expect(thread.data.thread.runs.edges.map((e: any) => e.node.usage.totalTokens)).toEqual([18, 23]);

    const byId = await server.gql(`query ($id: ID!) { run(id: $id) { ${RUN_FIELDS} } }`, { id: run.id });
    expect(byId.data.run).toEqual(run);
  });

  it('thread.activeRun is the run while it streams, and null once it has ended', async () => {
    const threadId = await emptyThread();
    let resume!: () => void;
    fake.setDefault({ text: 'Slow and steady reply.', pauseAfter: 2, resumeWhen: new Promise<void>((r) => (resume = r)) });
    const pending = server.gql(SEND, { input: { threadId, content: 'Take your time' } });
    let during: any;
    try {
      await fake.waitForRequests(1);
      during = await server.gql(
        `query ($id: ID!) { thread(id: $id) { activeRun { id status startedAt completedAt } } }`,
        { id: threadId },
      );
    } finally {
      resume();
    }
    const res = await pending;
    expect(res.errors).toBeUndefined();
    const runId = res.data.sendMessage.run.id;
    expect(during.errors).toBeUndefined();
    expect(during.data.thread.activeRun).toMatchObject({ id: runId, status: 'IN_PROGRESS', completedAt: null });
    expect(during.data.thread.activeRun.startedAt).not.toBeNull();

    expect(res.data.sendMessage.reply).toMatchObject({ content: 'Slow and steady reply.', status: 'COMPLETED' });
    const after = await server.gql(`query ($id: ID!) { thread(id: $id) { activeRun { id } } }`, { id: threadId });
    expect(after.data.thread.activeRun).toBeNull();
  });

  it('a provider answering 500 on every attempt: the run FAILS with PROVIDER_ERROR, the user message stays, reply is null', async () => {
    fake.setDefault({ status: 500 });
    const threadId = await emptyThread();
    const res = await server.gql(SEND, { input: { threadId, content: 'Will this work?' } });
    expect(res.errors).toBeUndefined();
    const { message, run, reply } = res.data.sendMessage;
    expect(reply).toBeNull();
    expect(message).toMatchObject({ role: 'USER', content: 'Will this work?', status: 'COMPLETED' });
    // The SDK's own retries: 3 attempts in all by default, then the run fails.
    expect(fake.requests).toHaveLength(3);

    const read = await server.gql(
      `query ($run: ID!, $thread: ID!) {
        run(id: $run) { ${RUN_FIELDS} }
        thread(id: $thread) { activeRun { id } messages { edges { node { id role content status } } } }
      }`,
      { run: run.id, thread: threadId },
    );
    expect(read.errors).toBeUndefined();
    expect(read.data.run).toMatchObject({ status: 'FAILED', reply: null, error: { code: 'PROVIDER_ERROR' } });
    expect(read.data.run.error.message).not.toBe('');
    expect(read.data.run.completedAt).not.toBeNull();
    expect(read.data.thread.activeRun).toBeNull();
    expect(read.data.thread.messages.edges.map((e: any) => e.node)).toEqual([
      { id: message.id, role: 'USER', content: 'Will this work?', status: 'COMPLETED' },
    ]);

    // The thread is usable again: the next message gets an answer.
    fake.setDefault({ text: 'Back again.' });
    const retry = await send({ threadId, content: 'Now?' });
    expect(retry.reply).toMatchObject({ content: 'Back again.', status: 'COMPLETED' });
  });

  it('a provider answering 401: the run FAILS with PROVIDER_AUTH, and the error does not reveal the API key', async () => {
    fake.setDefault({
      status: 401,
      errorMessage: `Incorrect API key provided: ${TEST_API_KEY}. Authorization: Bearer ${TEST_API_KEY}`,
    });
    const res = await server.gql(CREATE_THREAD, { input: { messages: [{ role: 'USER', content: 'Let me in' }] } });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.reply).toBeNull();
    const runId = res.data.createThread.run.id;
    expect(fake.requests).toHaveLength(1); // 401 is not retried

    const read = await server.gql(`query ($id: ID!) { run(id: $id) { status reply { id } error { code message } } }`, { id: runId });
    expect(read.errors).toBeUndefined();
    expect(read.data.run).toMatchObject({ status: 'FAILED', reply: null, error: { code: 'PROVIDER_AUTH' } });
    expect(read.data.run.error.message).not.toContain(TEST_API_KEY);
    expect(read.data.run.error.message).not.toContain(TEST_API_KEY.slice(3));
    expect(read.data.run.error.message).toMatch(/api key/i);
  });
});
