import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/auth/keys.js';
import type { FakeProvider } from './fake-provider.js';
import { deferred, ok, sseEvents, startTestServer, startWithFakeProvider, stopWithFakeProvider, type TestServer } from './helpers.js';
import { raw, sdk, startV1, textOf } from './v1-helpers.js';

/**
 * What the SDK does with threadql's answers when things go wrong or are retried: OpenAI's
 * error envelope (each SDK error class), busy threads, cancel, Idempotency-Key, token limits,
 * body limits, keys and owners, and the SSE framing itself.
 */

let server: TestServer;
let fake: FakeProvider;
let client: OpenAI;
let assistant: OpenAI.Beta.Assistant;

beforeAll(async () => {
  ({ server, fake, client } = await startV1({ MAX_BODY_BYTES: '20000', MAX_CONTENT_CHARS: '1000' }));
  assistant = await client.beta.assistants.create({ model: 'gpt-test', name: 'Errors' });
});
afterAll(() => stopWithFakeProvider(server, fake));
beforeEach(() => fake.reset());

/** A thread whose run streams one chunk, then waits until `release` is called. */
async function busyThread() {
  const pause = deferred();
  fake.enqueue({ chunks: ['Partial ', 'answer.'], pauseAfter: 1, resumeWhen: pause.promise });
  const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Hold on.' }] });
  const run = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id });
  await fake.waitForRequests(1);
  return { thread, run, release: pause.resolve };
}

describe('errors as the SDK raises them', () => {
  it('404 NotFoundError, 400 BadRequestError with param, OpenAI envelope', async () => {
    const missing = await client.beta.threads.retrieve('thread_nope').catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.message).toBe("404 No thread found with id 'thread_nope'.");
    expect(missing.type).toBe('invalid_request_error');

    const thread = await client.beta.threads.create();
    const tooLong = await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'x'.repeat(1001) }).catch((e) => e);
    expect(tooLong).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tooLong).toMatchObject({ param: 'content', type: 'invalid_request_error' });
    expect(tooLong.message).toMatch(/1,001 characters long; the limit is 1,000/);

    const badMeta = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id, max_completion_tokens: 0 }).catch((e) => e);
    expect(badMeta).toMatchObject({ status: 400, param: 'max_completion_tokens' });
    const noAssistant = await client.beta.threads.runs.create(thread.id, { assistant_id: 'asst_nope' }).catch((e) => e);
    expect(noAssistant).toBeInstanceOf(OpenAI.NotFoundError);
    expect(noAssistant.message).toMatch(/No assistant found with id 'asst_nope'/);
    const order = await raw(server, `/threads/${thread.id}/messages?order=sideways`);
    expect(order.status).toBe(400);
    expect(await order.json()).toEqual({ error: { message: 'order: must be "asc" or "desc"', type: 'invalid_request_error', code: null, param: 'order' } });
    const route = await raw(server, '/nothing/here');
    expect(route.status).toBe(404);
    expect((await route.json()).error.message).toBe('Invalid URL (GET /v1/nothing/here)');
  });

  it('a body over MAX_BODY_BYTES is 413 with the same envelope; broken JSON is 400', async () => {
    const res = await raw(server, '/threads', { body: { metadata: { a: 'x'.repeat(30_000) } } });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(/larger than the limit of 20000 bytes/) });
    const broken = await raw(server, '/threads', { body: '{"metadata": ' });
    expect(broken.status).toBe(400);
    expect((await broken.json()).error.message).toMatch(/could not parse the JSON body/);
  });

  it('a busy thread is 400 (not 409, which the SDK would retry), in OpenAI words', async () => {
    const { thread, run, release } = await busyThread();
    const message = await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'More?' }).catch((e) => e);
    expect(message).toBeInstanceOf(OpenAI.BadRequestError);
    expect(message.message).toBe(`400 Can't add messages to ${thread.id} while a run ${run.id} is active.`);
    expect(message).toMatchObject({ param: null, code: null, type: 'invalid_request_error' });
    const second = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id }).catch((e) => e);
    expect(second.message).toBe(`400 Thread ${thread.id} already has an active run ${run.id}.`);
    release();
    expect((await client.beta.threads.runs.poll(run.id, { thread_id: thread.id })).status).toBe('completed');
    expect(fake.requests).toHaveLength(1);
  });

  it('a failed run carries last_error: rate_limit_exceeded for the provider\'s 429, server_error otherwise', async () => {
    fake.enqueue({ status: 429 }, { status: 429 }, { status: 429 }, { status: 400, errorMessage: 'bad request upstream' });
    const limited = await client.beta.threads.createAndRunPoll({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'Hi' }] } });
    expect(limited).toMatchObject({ status: 'failed', last_error: { code: 'rate_limit_exceeded' }, failed_at: expect.any(Number) });
    const broken = await client.beta.threads.createAndRunPoll({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'Hi' }] } });
    expect(broken).toMatchObject({ status: 'failed', last_error: { code: 'server_error', message: expect.stringMatching(/bad request upstream/) } });
  });

  it('cancel: the run ends cancelled, its partial reply incomplete (run_cancelled)', async () => {
    const { thread, run } = await busyThread();
    const cancelled = await client.beta.threads.runs.cancel(run.id, { thread_id: thread.id });
    expect(cancelled).toMatchObject({ id: run.id, status: 'cancelled', cancelled_at: expect.any(Number) });
    const [reply] = (await client.beta.threads.messages.list(thread.id)).data;
    expect(reply).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'run_cancelled' } });
    expect(textOf(reply!)).toBe('Partial ');
    const steps = await client.beta.threads.runs.steps.list(run.id, { thread_id: thread.id });
    expect(steps.data.map((s) => s.status)).toEqual(['cancelled']);
    // The thread takes the next message at once.
    await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Next.' });
  });
});

describe('retries and limits', () => {
  it('Idempotency-Key: a retried POST returns the original message or run, one provider call', async () => {
    const thread = await client.beta.threads.create();
    const headers = { 'Idempotency-Key': 'msg-1' };
    const m1 = await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Once.' }, { headers });
    const m2 = await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'Once.' }, { headers });
    expect(m2.id).toBe(m1.id);
    expect((await client.beta.threads.messages.list(thread.id)).data).toHaveLength(1);

    const runHeaders = { 'Idempotency-Key': 'run-1' };
    const r1 = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id }, { headers: runHeaders });
    await client.beta.threads.runs.poll(r1.id, { thread_id: thread.id });
    const r2 = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id }, { headers: runHeaders });
    expect(r2).toMatchObject({ id: r1.id, status: 'completed' });
    // A retried stream answers the run's end at once.
    const again = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id }, { headers: runHeaders });
    expect((await again.finalRun()).id).toBe(r1.id);
    const c1 = await client.beta.threads.createAndRun({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'New.' }] } }, { headers: { 'Idempotency-Key': 'car-1' } });
    const c2 = await client.beta.threads.createAndRun({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'New.' }] } }, { headers: { 'Idempotency-Key': 'car-1' } });
    expect(c2).toMatchObject({ id: c1.id, thread_id: c1.thread_id });
    await client.beta.threads.runs.poll(c1.id, { thread_id: c1.thread_id });
    expect(fake.requests).toHaveLength(2);
  });

  it('max_completion_tokens reaches the provider; a cut-off reply ends the run incomplete', async () => {
    fake.enqueue({ chunks: ['Cut ', 'off'], finishReason: 'length' });
    const run = await client.beta.threads.createAndRunPoll({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'Write a lot.' }] }, max_completion_tokens: 2 });
    expect(fake.requests[0]!.body.max_output_tokens).toBe(2);
    expect(run).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_completion_tokens' }, max_completion_tokens: 2 });
    const [reply] = (await client.beta.threads.messages.list(run.thread_id)).data;
    expect(reply).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_tokens' } });
  });

  it('max_prompt_tokens bounds the history; a turn that cannot fit ends incomplete unsent', async () => {
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'An old message with several words in it.' }] });
    await client.beta.threads.messages.create(thread.id, { role: 'user', content: 'New question.' });
    fake.enqueue({ text: 'Short.' });
    const fits = await client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id, max_prompt_tokens: 10, truncation_strategy: { type: 'auto' } });
    expect(fits.status).toBe('completed');
    expect(fake.requests[0]!.body.input.map((m: any) => m.content)).toEqual(['New question.']);
    const tooBig = await client.beta.threads.runs.createAndPoll(thread.id, {
      assistant_id: assistant.id,
      max_prompt_tokens: 1,
      additional_messages: [{ role: 'user', content: 'A question far longer than one token can hold.' }],
    });
    expect(tooBig).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_prompt_tokens' } });
    expect(fake.requests).toHaveLength(1);
    fake.enqueue({ text: 'Last only.' });
    const last = await client.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id, truncation_strategy: { type: 'last_messages', last_messages: 1 } });
    expect(last).toMatchObject({ status: 'completed', truncation_strategy: { type: 'last_messages', last_messages: 1 } });
    expect(fake.requests[1]!.body.input.map((m: any) => m.content)).toEqual(['A question far longer than one token can hold.']);
  });
});

describe('on Chat Completions (LLM_API=chat)', () => {
  it('max_completion_tokens goes out as max_completion_tokens; a length stop ends incomplete', async () => {
    const chat = await startWithFakeProvider({ llmApi: 'chat' });
    try {
      const c = sdk(chat.server);
      const a = await c.beta.assistants.create({ model: 'llama' });
      chat.fake.enqueue({ chunks: ['Cut'], finishReason: 'length' });
      const run = await c.beta.threads.createAndRunPoll({ assistant_id: a.id, thread: { messages: [{ role: 'user', content: 'Long?' }] }, max_completion_tokens: 1 });
      expect(chat.fake.requests[0]!.body.max_completion_tokens).toBe(1);
      expect(run).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_completion_tokens' } });
    } finally {
      await chat.server.stop();
      await chat.fake.close();
    }
  });
});

describe('the wire', () => {
  it('SSE framing: event + data lines, Assistants event names, part index 0, done/[DONE] last', async () => {
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Frame it.' }] });
    fake.enqueue({ chunks: ['One ', 'two.'] });
    const res = await raw(server, `/threads/${thread.id}/runs`, { body: { assistant_id: assistant.id, stream: true }, headers: { accept: 'application/json', 'OpenAI-Beta': 'assistants=v2' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.endsWith('event: done\ndata: [DONE]\n\n')).toBe(true);
    const events = sseEvents(text);
    expect(events.every((e) => e.event)).toBe(true);
    expect(events.map((e) => e.event)).toEqual([
      'thread.run.created',
      'thread.run.queued',
      'thread.run.in_progress',
      'thread.run.step.created',
      'thread.run.step.in_progress',
      'thread.message.created',
      'thread.message.in_progress',
      'thread.message.delta',
      'thread.message.delta',
      'thread.message.completed',
      'thread.run.step.completed',
      'thread.run.completed',
      'done',
    ]);
    const data = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(data[5]).toMatchObject({ object: 'thread.message', status: 'in_progress', content: [] });
    expect(data[7]).toEqual({ id: data[5].id, object: 'thread.message.delta', delta: { content: [{ index: 0, type: 'text', text: { value: 'One ' } }] } });
    expect(data[3]).toMatchObject({ type: 'message_creation', step_details: { message_creation: { message_id: data[5].id } } });
    expect(data.at(-1)).toMatchObject({ object: 'thread.run', status: 'completed', completed_at: expect.any(Number) });
    // Run reads tell the poll helpers how long to wait.
    const read = await raw(server, `/threads/${thread.id}/runs/${data[0].id}`);
    expect(read.headers.get('openai-poll-after-ms')).toBe('250');
  });

  it('events that stop before the run ends give `event: error` after the 200; the SDK raises it; the run goes on', async () => {
    const pause = deferred();
    fake.enqueue({ chunks: ['Still ', 'going.'], pauseAfter: 1, resumeWhen: pause.promise });
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Cut the stream.' }] });
    const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id });
    stream.on('error', () => {});
    let runId = '';
    const failure = (async () => {
      for await (const event of stream) {
        if (event.event === 'thread.message.delta') {
          runId = stream.currentRun()!.id;
          // What a shutdown or a deleted thread does to open streams.
          void server.services.events.endStreams(0);
        }
      }
    })().catch((e) => e);
    const error = await failure;
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.message).toMatch(/The stream ended before the run did/);
    pause.resolve();
    expect((await client.beta.threads.runs.poll(runId, { thread_id: thread.id })).status).toBe('completed');
  });

  // Keys cannot be undone ("keys exist" is final): this test comes last on the shared server.
  it('keys: a threadql key is the apiKey; others get 401; owners see only their own', async () => {
    const { key: alice, row: aliceRow } = await createApiKey(server.services.store.keys, 'alice');
    const { key: bob } = await createApiKey(server.services.store.keys, 'bob');
    {
      const asAlice = sdk(server, alice);
      const thread = await asAlice.beta.threads.create({ metadata: { who: 'alice' } });
      const denied = await sdk(server, 'sk-not-ours').beta.threads.retrieve(thread.id).catch((e) => e);
      expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(denied).toMatchObject({ code: 'invalid_api_key' });
      const other = await sdk(server, bob).beta.threads.retrieve(thread.id).catch((e) => e);
      expect(other).toBeInstanceOf(OpenAI.NotFoundError);
      // The same object over GraphQL, with the same key.
      const res = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
        body: JSON.stringify({ query: 'query($t: ID!) { thread(id: $t) { metadata } }', variables: { t: thread.id } }),
      });
      expect((await res.json()).data.thread.metadata).toEqual({ who: 'alice' });

      // Revoking the key ends its open streams (event: error), as it ends GraphQL subscriptions.
      const pause = deferred();
      fake.enqueue({ chunks: ['Still ', 'here.'], pauseAfter: 1, resumeWhen: pause.promise });
      await asAlice.beta.threads.messages.create(thread.id, { role: 'user', content: 'Stream this.' });
      const stream = asAlice.beta.threads.runs.stream(thread.id, { assistant_id: (await asAlice.beta.assistants.create({ model: 'm' })).id });
      stream.on('error', () => {});
      const ended = (async () => {
        for await (const event of stream) if (event.event === 'thread.message.delta') await revokeApiKey(server.services.store.keys, aliceRow.id);
      })().catch((e) => e);
      const error = await ended;
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect(error.message).toMatch(/The API key was revoked/);
      pause.resolve();
    }
  });
});

describe('open mode', () => {
  it('a bearer token that is no threadql key is ignored on GraphQL too (the SDK always sends one)', async () => {
    const open = await startTestServer();
    try {
      const res = await fetch(open.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-proj-something' },
        body: JSON.stringify({ query: '{ assistants { edges { node { id } } } }' }),
      });
      expect(res.status).toBe(200);
      expect((await res.json()).data.assistants.edges).toEqual([]);
      expect((await ok(open, '{ assistants { edges { node { id } } } }')).assistants.edges).toEqual([]);
    } finally {
      await open.stop();
    }
  });
});
