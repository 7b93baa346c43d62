import type OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { conversationOf, ok, stopWithFakeProvider, subscribeSse, waitUntil, type TestServer } from './helpers.js';
import { startV1, textOf } from './v1-helpers.js';

/**
 * The Assistants API's user story through the real openai SDK (`client.beta`), with only
 * `baseURL` pointed at threadql: an assistant, a thread with a first message and its reply,
 * then the conversation goes on — polled and streamed — in the same store GraphQL serves.
 */

let server: TestServer;
let fake: FakeProvider;
let client: OpenAI;
let assistant: OpenAI.Beta.Assistant;

beforeAll(async () => {
  ({ server, fake, client } = await startV1());
  assistant = await client.beta.assistants.create({ model: 'gpt-test', name: 'Helper', instructions: 'Answer briefly.', metadata: { team: 'docs' } });
});
afterAll(() => stopWithFakeProvider(server, fake));
beforeEach(() => fake.reset());

describe('the story: createAndRunPoll, then the conversation goes on', () => {
  it('creates a thread with a first message, answers it, and continues it with the history', async () => {
    fake.enqueue({ chunks: ['Hi, ', 'how can I help?'] }, { chunks: ['Paris ', 'is in France.'] });
    const run = await client.beta.threads.createAndRunPoll({
      assistant_id: assistant.id,
      thread: { messages: [{ role: 'user', content: 'Hello!' }], metadata: { user: 'u1' } },
    });
    expect(run).toMatchObject({ object: 'thread.run', status: 'completed', assistant_id: assistant.id, model: 'gpt-test', instructions: 'Answer briefly.' });
    expect(run.thread_id).toMatch(/^thread_/);
    expect(Number.isInteger(run.created_at) && run.created_at < 1e10).toBe(true);
    expect(run.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: 2, total_tokens: expect.any(Number) });

    // Applications read the newest message first (the default order is desc).
    const first = await client.beta.threads.messages.list(run.thread_id);
    expect(first.data.map((m) => m.role)).toEqual(['assistant', 'user']);
    expect(textOf(first.data[0]!)).toBe('Hi, how can I help?');
    expect(first.data[0]).toMatchObject({ status: 'completed', run_id: run.id, assistant_id: assistant.id, object: 'thread.message' });
    expect(first.data[1]).toMatchObject({ run_id: null, assistant_id: null, content: [{ type: 'text', text: { value: 'Hello!', annotations: [] } }] });
    expect((await client.beta.threads.retrieve(run.thread_id)).metadata).toEqual({ user: 'u1' });

    // messages.create adds a message without a run; runs.createAndPoll answers the thread.
    await client.beta.threads.messages.create(run.thread_id, { role: 'user', content: 'Where is Paris?' });
    const second = await client.beta.threads.runs.createAndPoll(run.thread_id, { assistant_id: assistant.id });
    expect(second.status).toBe('completed');
    const [reply] = (await client.beta.threads.messages.list(run.thread_id, { limit: 1 })).data;
    expect(textOf(reply!)).toBe('Paris is in France.');
    expect(conversationOf(fake.requests[1]!)).toEqual([
      { role: 'user', content: 'Hello!' },
      { role: 'assistant', content: 'Hi, how can I help?' },
      { role: 'user', content: 'Where is Paris?' },
    ]);
    expect(fake.requests[1]!.body.instructions).toBe('Answer briefly.');
    // messages.list({ run_id }) is what that run wrote.
    const ofRun = await client.beta.threads.messages.list(run.thread_id, { run_id: second.id });
    expect(ofRun.data.map((m) => m.id)).toEqual([reply!.id]);
    // A run started without a message of its own leaves its answer in the history of the next.
    fake.enqueue({ text: 'You are welcome.' });
    await client.beta.threads.runs.createAndPoll(run.thread_id, { assistant_id: assistant.id, additional_messages: [{ role: 'user', content: 'Thanks!' }] });
    expect(conversationOf(fake.requests[2]!).map((m) => m.content)).toEqual(['Hello!', 'Hi, how can I help?', 'Where is Paris?', 'Paris is in France.', 'Thanks!']);
  });
});

describe('streams', () => {
  it('runs.stream: textDelta, finalMessages() and finalRun()', async () => {
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Tell me a story.' }] });
    fake.enqueue({ chunks: ['Once ', 'upon ', 'a ', 'time.'] });
    const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id, additional_instructions: 'Be vivid.' });
    const deltas: string[] = [];
    const events: string[] = [];
    stream.on('textDelta', (delta) => deltas.push(delta.value ?? ''));
    stream.on('event', (e) => events.push(e.event));
    const run = await stream.finalRun();
    expect(run).toMatchObject({ status: 'completed', instructions: 'Answer briefly.\n\nBe vivid.' });
    expect(fake.requests[0]!.body.instructions).toBe('Answer briefly.\n\nBe vivid.');
    expect(deltas).toEqual(['Once ', 'upon ', 'a ', 'time.']);
    const messages = await stream.finalMessages();
    expect(messages).toHaveLength(1);
    expect(messages[0]!.content).toMatchObject([{ type: 'text', text: { value: 'Once upon a time.' } }]);
    expect(events[0]).toBe('thread.run.created');
    expect(events.at(-1)).toBe('thread.run.completed');
    expect(events).toContain('thread.message.completed');
    // What streamed is what is stored.
    const stored = await client.beta.threads.messages.retrieve(messages[0]!.id, { thread_id: thread.id });
    expect(textOf(stored)).toBe('Once upon a time.');
  });

  it('createAndRunStream begins with thread.created; the per-run options reach the provider', async () => {
    fake.enqueue({ text: 'Bonjour.' });
    const stream = client.beta.threads.createAndRunStream({
      assistant_id: assistant.id,
      thread: { messages: [{ role: 'user', content: 'Say hello in French.' }] },
      instructions: 'Use French.',
      temperature: 0.3,
      metadata: { source: 'test' },
    });
    const names: string[] = [];
    stream.on('event', (e) => names.push(e.event));
    const run = await stream.finalRun();
    expect(names[0]).toBe('thread.created');
    expect(run).toMatchObject({ status: 'completed', temperature: 0.3, metadata: { source: 'test' }, instructions: 'Use French.' });
    expect(fake.requests[0]!.body).toMatchObject({ instructions: 'Use French.', temperature: 0.3 });
    expect(textOf((await stream.finalMessages())[0]!)).toBe('Bonjour.');
  });

  it('a client that stops reading does not stop the run', async () => {
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Long answer please.' }] });
    fake.enqueue({ chunks: ['a ', 'b ', 'c ', 'd ', 'e.'], paceMs: 20 });
    const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
    let runId = '';
    for await (const event of stream) {
      if (event.event === 'thread.message.delta') {
        runId = stream.currentRun()!.id;
        break;
      }
    }
    // The server lets go of the stream (its subscription), not of the run.
    await waitUntil(() => server.services.events.openCount() === 0, 'the stream to be released');
    const run = await client.beta.threads.runs.poll(runId, { thread_id: thread.id });
    expect(run.status).toBe('completed');
    expect(textOf((await client.beta.threads.messages.list(thread.id)).data[0]!)).toBe('a b c d e.');
  });
});

describe('one store for both surfaces', () => {
  it('a run started over REST streams to a GraphQL subscriber; GraphQL objects read over REST', async () => {
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Watch me.' }] });
    let release!: () => void;
    fake.enqueue({ chunks: ['Seen ', 'on ', 'both.'], pauseAfter: 1, resumeWhen: new Promise<void>((r) => (release = r)) });
    const run = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id });
    expect(run.status).toMatch(/queued|in_progress/);
    const sub = subscribeSse(server.url, 'subscription($r: ID!) { runEvents(runId: $r) { __typename ... on MessageDeltaEvent { delta } ... on RunStatusEvent { run { status } } } }', { r: run.id });
    await fake.waitForRequests(1);
    release();
    await sub.completed;
    const events = sub.results.map((r) => r.data?.runEvents);
    expect(events.at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { status: 'COMPLETED' } });
    const data = await ok(server, 'query($t: ID!) { thread(id: $t) { assistant { id } messages { edges { node { role content } } } } }', { t: thread.id });
    expect(data.thread.messages.edges.map((e: any) => e.node.content)).toEqual(['Watch me.', 'Seen on both.']);

    const created = await ok(server, 'mutation { createThread(input: { title: "gql", messages: [{ role: USER, content: "From GraphQL" }] }) { thread { id } run { id } } }');
    const { id: threadId } = created.createThread.thread;
    const polled = await client.beta.threads.runs.poll(created.createThread.run.id, { thread_id: threadId });
    expect(polled.status).toBe('completed');
    const listed = await client.beta.threads.messages.list(threadId, { order: 'asc' });
    expect(listed.data.map((m) => m.role)).toEqual(['user', 'assistant']);
  });
});

describe('lists', () => {
  it('auto-pagination in both orders, with the envelope', async () => {
    const thread = await client.beta.threads.create();
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4, 5]) ids.push((await client.beta.threads.messages.create(thread.id, { role: 'user', content: `message ${n}` })).id);
    const collect = async (order: 'asc' | 'desc') => {
      const seen: string[] = [];
      for await (const m of client.beta.threads.messages.list(thread.id, { limit: 2, order })) seen.push(m.id);
      return seen;
    };
    expect(await collect('asc')).toEqual(ids);
    expect(await collect('desc')).toEqual([...ids].reverse());

    const page = await client.beta.threads.messages.list(thread.id, { limit: 2, order: 'asc', after: ids[0] });
    expect(page.data.map((m) => m.id)).toEqual([ids[1], ids[2]]);
    expect(page.hasNextPage()).toBe(true);
    const before = await client.beta.threads.messages.list(thread.id, { before: ids[2] });
    expect(before.data.map((m) => m.id)).toEqual([ids[4], ids[3]]);
    const body = (await client.beta.threads.messages.list(thread.id, { limit: 5 }).asResponse()).json();
    expect(await body).toMatchObject({ object: 'list', first_id: ids[4], last_id: ids[0], has_more: false });

    const names: string[] = [];
    for await (const a of client.beta.assistants.list({ order: 'asc', limit: 1 })) names.push(a.id);
    expect(names).toContain(assistant.id);
  });

  it('assistants and threads: retrieve, update, delete', async () => {
    const a = await client.beta.assistants.create({ model: 'm', name: 'Temp', tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] });
    expect(a.tools).toEqual([{ type: 'function', function: { name: 'f', description: '', parameters: { type: 'object' }, strict: false } }]);
    const updated = await client.beta.assistants.update(a.id, { description: 'For tests', metadata: { k: 'v' } });
    expect(updated).toMatchObject({ description: 'For tests', metadata: { k: 'v' }, name: 'Temp' });
    expect(await client.beta.assistants.delete(a.id)).toEqual({ id: a.id, object: 'assistant.deleted', deleted: true });
    const t = await client.beta.threads.create({ metadata: { a: '1' } });
    expect((await client.beta.threads.update(t.id, { metadata: { a: '2' } })).metadata).toEqual({ a: '2' });
    const m = await client.beta.threads.messages.create(t.id, { role: 'user', content: [{ type: 'text', text: 'Part one' }] });
    expect((await client.beta.threads.messages.update(m.id, { thread_id: t.id, metadata: { seen: 'yes' } })).metadata).toEqual({ seen: 'yes' });
    expect(await client.beta.threads.messages.delete(m.id, { thread_id: t.id })).toMatchObject({ id: m.id, deleted: true });
    expect(await client.beta.threads.delete(t.id)).toEqual({ id: t.id, object: 'thread.deleted', deleted: true });
  });
});
