import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { codeOf, conversationOf, NO_RATE_LIMIT, newThread, ok, startTestServer, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';

/**
 * What the provider receives (truncation strategies on the assistant and the thread) and the
 * token usage it reports back (per run and per thread).
 */

const STRATEGY = /* GraphQL */ `truncationStrategy { type lastMessages maxInputTokens }`;
const CREATE_ASSISTANT = /* GraphQL */ `
  mutation CreateAssistant($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { id ${STRATEGY} } } }
`;
const CREATE_THREAD = /* GraphQL */ `
  mutation CreateThread($input: CreateThreadInput!) {
    createThread(input: $input) { thread { id ${STRATEGY} } run { id } reply { content status } }
  }
`;
const UPDATE_THREAD = /* GraphQL */ `
  mutation UpdateThread($input: UpdateThreadInput!) { updateThread(input: $input) { thread { id ${STRATEGY} } } }
`;
const SEND = /* GraphQL */ `
  mutation Send($input: SendMessageInput!) {
    sendMessage(input: $input) { run { id } reply { content status run { status usage { inputTokens outputTokens totalTokens } } } }
  }
`;

type Turn = { role: 'user' | 'assistant' | 'system'; content: string };

/** createThread `messages` alternating USER / ASSISTANT, ending with USER. */
function history(...contents: string[]) {
  return contents.map((content, i) => ({ role: i % 2 === 0 ? 'USER' : 'ASSISTANT', content }));
}
const asTurns = (...contents: string[]): Turn[] =>
  contents.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content }));

describe('truncation strategies', () => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  async function createAssistant(input: Record<string, unknown>) {
    return (await ok(server, CREATE_ASSISTANT, { input })).createAssistant.assistant as { id: string; truncationStrategy: unknown };
  }

  /** Creates a thread whose last message is USER and waits for its run; returns what the provider got. */
  async function runWithHistory(input: Record<string, unknown>, on: TestServer = server) {
    const before = fake.requests.length;
    const data = await ok(on, CREATE_THREAD, { input });
    expect(data.createThread.reply.status).toBe('COMPLETED');
    expect(fake.requests).toHaveLength(before + 1);
    return { threadId: data.createThread.thread.id as string, sent: conversationOf(fake.requests.at(-1)!) };
  }

  it('an assistant with LAST_MESSAGES 3: after several exchanges the provider receives only the last 3 messages', async () => {
    const assistant = await createAssistant({ name: 'Short memory', truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 3 } });
    const { createThread } = await ok(server, CREATE_THREAD, { input: { assistantId: assistant.id } });
    const threadId = createThread.thread.id;
    for (let i = 1; i <= 4; i++) {
      fake.enqueue({ text: `Reply ${i}` });
      const { sendMessage } = await ok(server, SEND, { input: { threadId, content: `Question ${i}` } });
      expect(sendMessage.reply).toMatchObject({ content: `Reply ${i}`, status: 'COMPLETED' });
    }
    expect(fake.requests.map(conversationOf)).toEqual([
      asTurns('Question 1'),
      asTurns('Question 1', 'Reply 1', 'Question 2'),
      asTurns('Question 2', 'Reply 2', 'Question 3'),
      asTurns('Question 3', 'Reply 3', 'Question 4'),
    ]);
  });

  it('LAST_MESSAGES with an even count still ends with the newest user message', async () => {
    const { sent } = await runWithHistory({
      truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 2 },
      messages: history('u1', 'a1', 'u2', 'a2', 'u3'),
    });
    expect(sent).toEqual([
      { role: 'assistant', content: 'a2' },
      { role: 'user', content: 'u3' },
    ]);
  });

  it("a thread's strategy overrides its assistant's", async () => {
    const assistant = await createAssistant({ truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 3 } });
    const messages = history('u1', 'a1', 'u2', 'a2', 'u3');

    const narrower = await runWithHistory({ assistantId: assistant.id, truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 1 }, messages });
    expect(narrower.sent).toEqual(asTurns('u3'));

    // AUTO on the thread: the assistant's message limit no longer applies.
    const wider = await runWithHistory({ assistantId: assistant.id, truncationStrategy: { type: 'AUTO' }, messages });
    expect(wider.sent).toEqual(asTurns('u1', 'a1', 'u2', 'a2', 'u3'));

    // Without one, the thread follows its assistant.
    const inherited = await runWithHistory({ assistantId: assistant.id, messages });
    expect(inherited.sent).toEqual(asTurns('u2', 'a2', 'u3'));
  });

  it('updateThread sets a strategy that the next run uses', async () => {
    const { threadId, sent } = await runWithHistory({ messages: history('u1', 'a1', 'u2') });
    expect(sent).toEqual(asTurns('u1', 'a1', 'u2'));
    const updated = await ok(server, UPDATE_THREAD, { input: { threadId, truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 2 } } });
    expect(updated.updateThread.thread.truncationStrategy).toEqual({ type: 'LAST_MESSAGES', lastMessages: 2, maxInputTokens: null });
    fake.enqueue({ text: 'r3' });
    await ok(server, SEND, { input: { threadId, content: 'u3' } });
    // u1 a1 u2 <reply> u3 → the last two.
    expect(conversationOf(fake.requests.at(-1)!)).toEqual([
      { role: 'assistant', content: 'Hello from the fake provider.' },
      { role: 'user', content: 'u3' },
    ]);
  });

  it('AUTO with a small maxInputTokens drops the oldest messages and keeps the newest', async () => {
    const long = (tag: string) => `${tag} ${'x'.repeat(400)}`; // ~100 tokens each
    const contents = ['m1', 'm2', 'm3', 'm4', 'm5'].map(long);
    const full = asTurns(...contents);

    const everything = await runWithHistory({ truncationStrategy: { type: 'AUTO' }, messages: history(...contents) });
    expect(everything.sent).toEqual(full);

    const { sent } = await runWithHistory({ truncationStrategy: { type: 'AUTO', maxInputTokens: 250 }, messages: history(...contents) });
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThan(full.length);
    expect(sent).toEqual(full.slice(full.length - sent.length)); // the newest ones, in order
    expect(sent.at(-1)).toEqual(full.at(-1));
    expect(sent).not.toContainEqual(full[0]);
  });

  it('LAST_MESSAGES with maxInputTokens keeps the newest messages within both limits', async () => {
    const contents = ['m1', 'm2', 'm3', 'm4', 'm5'].map((tag) => `${tag} ${'x'.repeat(400)}`);
    const full = asTurns(...contents);
    const { sent } = await runWithHistory({
      truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 4, maxInputTokens: 250 },
      messages: history(...contents),
    });
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent.length).toBeLessThan(4);
    expect(sent).toEqual(full.slice(full.length - sent.length));
  });

  it('the token budget counts the instructions too', async () => {
    const contents = ['m1', 'm2', 'm3', 'm4', 'm5'].map((tag) => `${tag} ${'x'.repeat(400)}`);
    const strategy = { type: 'AUTO', maxInputTokens: 600 };
    const without = await runWithHistory({ truncationStrategy: strategy, messages: history(...contents) });
    const withInstructions = await runWithHistory({
      truncationStrategy: strategy,
      instructions: `Be thorough. ${'i'.repeat(1200)}`, // ~300 tokens of the 600
      messages: history(...contents),
    });
    expect(fake.requests.at(-1)!.body.instructions).toContain('Be thorough.');
    expect(withInstructions.sent.length).toBeGreaterThanOrEqual(1);
    expect(withInstructions.sent.length).toBeLessThan(without.sent.length);
    expect(withInstructions.sent).toEqual(without.sent.slice(without.sent.length - withInstructions.sent.length));
  });

  it('the newest user message is sent even when it alone exceeds the budget', async () => {
    const { sent } = await runWithHistory({
      truncationStrategy: { type: 'AUTO', maxInputTokens: 1 },
      messages: history('old question', 'old answer', `new question ${'y'.repeat(200)}`),
    });
    expect(sent).toEqual([{ role: 'user', content: `new question ${'y'.repeat(200)}` }]);
  });

  it('no strategy: a short thread is sent whole, system message included', async () => {
    const { sent } = await runWithHistory({
      messages: [
        { role: 'SYSTEM', content: 'Answer in French.' },
        { role: 'USER', content: 'Hello' },
        { role: 'ASSISTANT', content: 'Bonjour' },
        { role: 'USER', content: 'How are you?' },
      ],
    });
    expect(sent).toEqual([
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Bonjour' },
      { role: 'user', content: 'How are you?' },
    ]);
  });

  it('no strategy on a server with a small CONTEXT_MAX_INPUT_TOKENS drops the oldest messages', async () => {
    const small = await startTestServer({ provider: fake, env: { ...NO_RATE_LIMIT, CONTEXT_MAX_INPUT_TOKENS: '250' } });
    try {
      const contents = ['m1', 'm2', 'm3', 'm4', 'm5'].map((tag) => `${tag} ${'z'.repeat(400)}`);
      const full = asTurns(...contents);
      const { sent } = await runWithHistory({ messages: history(...contents) }, small);
      expect(sent.length).toBeGreaterThanOrEqual(1);
      expect(sent.length).toBeLessThan(full.length);
      expect(sent).toEqual(full.slice(full.length - sent.length));
    } finally {
      await small.stop();
    }
  });

  it('strategies are readable back on Assistant.truncationStrategy and Thread.truncationStrategy', async () => {
    const assistant = await createAssistant({ truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 3 } });
    expect(assistant.truncationStrategy).toEqual({ type: 'LAST_MESSAGES', lastMessages: 3, maxInputTokens: null });
    const plain = await createAssistant({ name: 'plain' });
    expect(plain.truncationStrategy).toBeNull();

    const { createThread } = await ok(server, CREATE_THREAD, {
      input: { assistantId: assistant.id, truncationStrategy: { type: 'AUTO', maxInputTokens: 500 } },
    });
    expect(createThread.thread.truncationStrategy).toEqual({ type: 'AUTO', lastMessages: null, maxInputTokens: 500 });

    const read = await ok(
      server,
      `query ($a: ID!, $t: ID!) {
        assistant(id: $a) { ${STRATEGY} }
        thread(id: $t) { ${STRATEGY} assistant { ${STRATEGY} } }
      }`,
      { a: assistant.id, t: createThread.thread.id },
    );
    expect(read.assistant.truncationStrategy).toEqual({ type: 'LAST_MESSAGES', lastMessages: 3, maxInputTokens: null });
    expect(read.thread.truncationStrategy).toEqual({ type: 'AUTO', lastMessages: null, maxInputTokens: 500 });
    expect(read.thread.assistant.truncationStrategy).toEqual(read.assistant.truncationStrategy);

    const bare = await ok(server, CREATE_THREAD, { input: {} });
    expect(bare.createThread.thread.truncationStrategy).toBeNull();

    const updated = await ok(
      server,
      `mutation ($input: UpdateAssistantInput!) { updateAssistant(input: $input) { assistant { ${STRATEGY} } } }`,
      { input: { assistantId: assistant.id, truncationStrategy: { type: 'LAST_MESSAGES', lastMessages: 5, maxInputTokens: 900 } } },
    );
    expect(updated.updateAssistant.assistant.truncationStrategy).toEqual({ type: 'LAST_MESSAGES', lastMessages: 5, maxInputTokens: 900 });
  });

  it('LAST_MESSAGES without lastMessages (or out of range) is BAD_USER_INPUT naming the field', async () => {
    const assistant = await createAssistant({ name: 'valid' });
    const thread = (await ok(server, CREATE_THREAD, { input: {} })).createThread.thread.id;
    const bad = [{ type: 'LAST_MESSAGES' }, { type: 'LAST_MESSAGES', lastMessages: 0 }];
    for (const truncationStrategy of bad) {
      const attempts = [
        await server.gql(CREATE_ASSISTANT, { input: { truncationStrategy } }),
        await server.gql(CREATE_THREAD, { input: { truncationStrategy, messages: [{ role: 'USER', content: 'hi' }] } }),
        await server.gql(UPDATE_THREAD, { input: { threadId: thread, truncationStrategy } }),
        await server.gql(
          `mutation ($input: UpdateAssistantInput!) { updateAssistant(input: $input) { assistant { id } } }`,
          { input: { assistantId: assistant.id, truncationStrategy } },
        ),
      ];
      for (const res of attempts) {
        expect(codeOf(res)).toBe('BAD_USER_INPUT');
        expect(res.errors![0]!.message).toContain('lastMessages');
      }
    }
    const tokens = await server.gql(CREATE_ASSISTANT, { input: { truncationStrategy: { type: 'AUTO', maxInputTokens: 0 } } });
    expect(codeOf(tokens)).toBe('BAD_USER_INPUT');
    expect(tokens.errors![0]!.message).toContain('maxInputTokens');
    // Nothing was stored or started by the rejected operations.
    expect(fake.requests).toHaveLength(0);
  });
});

describe.each(['responses', 'chat'] as const)('usage (LLM_API=%s)', (llmApi) => {
  let fake: FakeProvider;
  let server: TestServer;
  const USAGE = 'usage { inputTokens outputTokens totalTokens }';

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ llmApi, env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  async function sendAndRead(threadId: string, content: string) {
    const sent = await server.gql(SEND, { input: { threadId, content } });
    expect(sent.errors).toBeUndefined();
    const res = await server.gql(`query ($id: ID!) { run(id: $id) { status incompleteReason ${USAGE} } }`, { id: sent.data.sendMessage.run.id });
    return res.data.run;
  }

  async function threadUsage(threadId: string) {
    const res = await server.gql(`query ($id: ID!) { thread(id: $id) { ${USAGE} } }`, { id: threadId });
    expect(res.errors).toBeUndefined();
    return res.data.thread.usage;
  }

  it("run.usage is the provider's usage, and thread.usage sums the thread's runs", async () => {
    const threadId = await newThread(server);
    expect(await threadUsage(threadId)).toEqual({ inputTokens: 0, outputTokens: 0, totalTokens: 0 });

    fake.enqueue({ usage: { input: 11, output: 7 } }, { usage: { input: 5, output: 3 } });
    const first = await sendAndRead(threadId, 'one');
    expect(first).toMatchObject({ status: 'COMPLETED', usage: { inputTokens: 11, outputTokens: 7, totalTokens: 18 } });
    const second = await sendAndRead(threadId, 'two');
    expect(second).toMatchObject({ status: 'COMPLETED', usage: { inputTokens: 5, outputTokens: 3, totalTokens: 8 } });
    expect(await threadUsage(threadId)).toEqual({ inputTokens: 16, outputTokens: 10, totalTokens: 26 });

    // Another thread's runs do not count.
    const other = await newThread(server);
    fake.enqueue({ usage: { input: 100, output: 100 } });
    await sendAndRead(other, 'elsewhere');
    expect(await threadUsage(threadId)).toEqual({ inputTokens: 16, outputTokens: 10, totalTokens: 26 });
    expect(await threadUsage(other)).toEqual({ inputTokens: 100, outputTokens: 100, totalTokens: 200 });
  });

  it('a run stopped for length still reports the tokens it used', async () => {
    const threadId = await newThread(server);
    fake.enqueue({ finishReason: 'length', usage: { input: 4, output: 2 } });
    const run = await sendAndRead(threadId, 'long answer please');
    expect(run).toMatchObject({ status: 'INCOMPLETE', incompleteReason: 'length', usage: { inputTokens: 4, outputTokens: 2, totalTokens: 6 } });
    expect(await threadUsage(threadId)).toEqual({ inputTokens: 4, outputTokens: 2, totalTokens: 6 });
  });

  it('a failed run without usage counts nothing', async () => {
    const threadId = await newThread(server);
    fake.enqueue({ usage: { input: 9, output: 1 } });
    await sendAndRead(threadId, 'fine');
    fake.setDefault({ status: 401 });
    const failed = await sendAndRead(threadId, 'fails');
    expect(failed).toMatchObject({ status: 'FAILED', usage: null });
    expect(await threadUsage(threadId)).toEqual({ inputTokens: 9, outputTokens: 1, totalTokens: 10 });
  });

  if (llmApi === 'chat') {
    it('a chat server that sends no usage chunk: the run COMPLETES with usage null', async () => {
      const threadId = await newThread(server);
      fake.enqueue({ omitUsage: true });
      const run = await sendAndRead(threadId, 'no usage');
      expect(run).toMatchObject({ status: 'COMPLETED', usage: null });
      expect(await threadUsage(threadId)).toEqual({ inputTokens: 0, outputTokens: 0, totalTokens: 0 });
    });
  }
});
