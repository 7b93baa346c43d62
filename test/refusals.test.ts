import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeProvider } from './fake-provider.js';
import { deferred, newThread, NO_RATE_LIMIT, ok, startWithFakeProvider, stopWithFakeProvider, within, type TestServer } from './helpers.js';
import { isTerminalOf, received, subscribe, TRANSPORTS, waitForEvent } from './stream-helpers.js';

/**
 * When the model refuses, the refusal is kept and shown as a refusal on the reply (not lost,
 * not mixed into content). Both LLM APIs, OpenAI's wire format from the fake provider, through
 * the real openai SDK.
 */

const REFUSAL = ["I'm sorry, ", 'but I cannot help ', 'with that.'];
const REFUSAL_TEXT = REFUSAL.join('');

const SEND_AND_WAIT = /* GraphQL */ `
  mutation ($input: SendMessageInput!) {
    sendMessage(input: $input) {
      run { id }
      reply { id role content refusal status run { status incompleteReason error { code } } }
    }
  }
`;

const MESSAGES = /* GraphQL */ `
  query ($id: ID!) { thread(id: $id) { messages(first: 10) { edges { node { id role content refusal status } } } } }
`;

/** EVENT_FIELDS with the message's refusal. */
const EVENT_FIELDS = /* GraphQL */ `
  __typename seq
  ... on RunStatusEvent { run { id status } }
  ... on MessageEvent { message { id role content refusal status } }
  ... on MessageDeltaEvent { messageId delta }
`;
const RUN_EVENTS = `subscription ($runId: ID!) { runEvents(runId: $runId) { ${EVENT_FIELDS} } }`;
const THREAD_EVENTS = `subscription ($threadId: ID!, $after: Int) { threadEvents(threadId: $threadId, after: $after) { ${EVENT_FIELDS} } }`;

describe.each(['responses', 'chat'] as const)('refusals (LLM_API=%s)', (llmApi) => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ llmApi, env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  async function sendAndWait(threadId: string, content: string) {
    const data = await ok(server, SEND_AND_WAIT, { input: { threadId, content } });
    return data.sendMessage;
  }

  it('a refusal: run COMPLETED, reply COMPLETED with empty content and the refusal; the thread shows it', async () => {
    fake.setDefault({ chunks: [], refusal: REFUSAL });
    const threadId = await newThread(server);
    const { reply } = await sendAndWait(threadId, 'Tell me something forbidden.');
    expect(reply).toMatchObject({
      role: 'ASSISTANT',
      content: '',
      refusal: REFUSAL_TEXT,
      status: 'COMPLETED',
      run: { status: 'COMPLETED', incompleteReason: null, error: null },
    });

    const { thread } = await ok(server, MESSAGES, { id: threadId });
    expect(thread.messages.edges.map((e: any) => e.node)).toEqual([
      expect.objectContaining({ role: 'USER', content: 'Tell me something forbidden.', refusal: null, status: 'COMPLETED' }),
      { id: reply.id, role: 'ASSISTANT', content: '', refusal: REFUSAL_TEXT, status: 'COMPLETED' },
    ]);
  });

  it('text and a refusal: content keeps the text, refusal the refusal', async () => {
    fake.setDefault({ chunks: ['Let me think. '], refusal: ['No, I will not.'] });
    const threadId = await newThread(server);
    const { reply } = await sendAndWait(threadId, 'Half a question');
    expect(reply).toMatchObject({ content: 'Let me think. ', refusal: 'No, I will not.', status: 'COMPLETED', run: { status: 'COMPLETED' } });
  });

  it('an ordinary reply has refusal null', async () => {
    fake.setDefault({ text: 'Sure thing.' });
    const threadId = await newThread(server);
    const { reply } = await sendAndWait(threadId, 'A fine question');
    expect(reply).toMatchObject({ content: 'Sure thing.', refusal: null, status: 'COMPLETED' });
  });

  it('the next run sends the refusal back as what the assistant said', async () => {
    fake.setDefault({ chunks: [], refusal: REFUSAL });
    const threadId = await newThread(server);
    await sendAndWait(threadId, 'First');
    fake.setDefault({ text: 'Fine.' });
    await sendAndWait(threadId, 'Second');
    const body = fake.requests.at(-1)!.body;
    const history = (body.input ?? body.messages).filter((m: any) => m.role !== 'system');
    expect(history).toEqual([
      { role: 'user', content: 'First' },
      { role: 'assistant', content: REFUSAL_TEXT },
      { role: 'user', content: 'Second' },
    ]);
  });

  it.each(TRANSPORTS)('a runEvents subscriber (%s) receives the final MessageEvent with the refusal; a replay has it too', async (transport) => {
    const resume = deferred();
    fake.setDefault({ chunks: [], refusal: REFUSAL, pauseAfter: 0, resumeWhen: resume.promise });
    const threadId = await newThread(server);
    const { sendMessage } = await ok(server, `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { run { id } } }`, {
      input: { threadId, content: 'Refuse me, live' },
    });
    const runId = sendMessage.run.id;
    await fake.waitForRequests(1);

    const live = subscribe(transport, server.url, RUN_EVENTS, { runId });
    await live.waitFor(1); // the snapshot: the run IN_PROGRESS, no reply yet
    expect(received(live, 'runEvents')[0]).toMatchObject({ __typename: 'RunStatusEvent', run: { id: runId, status: 'IN_PROGRESS' } });
    resume.resolve();
    await waitForEvent(live, 'runEvents', isTerminalOf(runId));
    await within(live.completed, 5000, 'runEvents completes after the terminal status');

    const events = received(live, 'runEvents');
    const messages = events.filter((e) => e.__typename === 'MessageEvent');
    // Created (IN_PROGRESS, no refusal yet), then completed with the refusal.
    expect(messages.at(-1)!.message).toMatchObject({ role: 'ASSISTANT', content: '', refusal: REFUSAL_TEXT, status: 'COMPLETED' });
    expect(events.some((e) => e.__typename === 'MessageDeltaEvent')).toBe(false);
    expect(events.at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { status: 'COMPLETED' } });

    // The stored event log replays the same final snapshot.
    const stored = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: 0 });
    await waitForEvent(stored, 'threadEvents', isTerminalOf(runId));
    stored.close();
    const replayed = received(stored, 'threadEvents').filter((e) => e.__typename === 'MessageEvent' && e.message!.role === 'ASSISTANT');
    expect(replayed.at(-1)!.message).toMatchObject({ refusal: REFUSAL_TEXT, status: 'COMPLETED' });
  });
});
