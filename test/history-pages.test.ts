import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { conversationOf, NO_RATE_LIMIT, ok, startWithFakeProvider, stopWithFakeProvider, type TestServer } from './helpers.js';

/**
 * A run reads the thread newest first, a page at a time, only as far back as its budget
 * reaches: a long thread costs a short read when the strategy keeps little of it.
 */

const CREATE_THREAD = /* GraphQL */ `
  mutation CreateThread($input: CreateThreadInput!) { createThread(input: $input) { thread { id } run { id } } }
`;
const SEND = /* GraphQL */ `
  mutation ($t: ID!, $c: String!) { sendMessage(input: { threadId: $t, content: $c }) { reply { status } } }
`;
const MESSAGES = 400;

/** USER / ASSISTANT alternating, ending with USER; each about 100 tokens. */
const longThread = () =>
  Array.from({ length: MESSAGES }, (_, i) => ({ role: i % 2 === 0 ? 'USER' : 'ASSISTANT', content: `m${i} ${'w'.repeat(396)}` })).slice(0, MESSAGES - 1);

describe('history read in pages', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let rowsRead = 0;

  beforeAll(async () => {
    ({ fake, server } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, MAX_THREAD_MESSAGES: '1000', CONTEXT_MAX_INPUT_TOKENS: '1000000' } }));
    // Counts the message rows runs read from the store for their history.
    const store = server.services.store.messages;
    const newestFirst = store.newestFirst.bind(store);
    store.newestFirst = async (...args) => {
      const rows = await newestFirst(...args);
      rowsRead += rows.length;
      return rows;
    };
  });
  afterAll(() => stopWithFakeProvider(server, fake));

  async function run(truncationStrategy: Record<string, unknown>) {
    const messages = longThread();
    // The thread first (ending with ASSISTANT: no run), then the last user message: the run
    // reads its history from the store (createThread's own run is given the thread it wrote).
    const created = await ok(server, CREATE_THREAD, { input: { messages: messages.slice(0, -1), truncationStrategy } });
    expect(created.createThread.run).toBeNull();
    rowsRead = 0;
    const data = await ok(server, SEND, { t: created.createThread.thread.id, c: messages.at(-1)!.content });
    expect(data.sendMessage.reply.status).toBe('COMPLETED');
    return { sent: conversationOf(fake.requests.at(-1)!).filter((t) => t.role !== 'system'), messages, rowsRead };
  }

  it('LAST_MESSAGES 3 on a 399-message thread reads one page, and sends the newest 3', async () => {
    const { sent, messages, rowsRead } = await run({ type: 'LAST_MESSAGES', lastMessages: 3 });
    expect(sent.map((t) => t.content)).toEqual(messages.slice(-3).map((m) => m.content));
    expect(rowsRead).toBeGreaterThan(0);
    expect(rowsRead).toBeLessThanOrEqual(50);
  });

  it('AUTO within 1,000 tokens reads one page, and sends the newest messages that fit', async () => {
    const { sent, messages, rowsRead } = await run({ type: 'AUTO', maxInputTokens: 1000 });
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.length).toBeLessThan(20);
    expect(sent.map((t) => t.content)).toEqual(messages.slice(-sent.length).map((m) => m.content));
    expect(rowsRead).toBeLessThanOrEqual(50);
  });

  it('a budget that covers the whole thread reads every page and sends it all, in order', async () => {
    const { sent, messages, rowsRead } = await run({ type: 'AUTO' });
    expect(sent.map((t) => t.content)).toEqual(messages.map((m) => m.content));
    expect(sent.map((t) => t.role)).toEqual(messages.map((m) => (m.role === 'USER' ? 'user' : 'assistant')));
    // Every message before the run's own (that one is read first, by its run).
    expect(rowsRead).toBe(MESSAGES - 2);
  });
});
