import { request as httpRequest } from 'node:http';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { codeOf, postMultipart, removeTempDirs, startTestServer, startThread, subscribeSse, subscribeWs, waitUntil, within, type GqlResult, type TestServer } from './helpers.js';
import { CREATE_THREAD, RUN_EVENTS, SEND } from './operations.js';

const MIB = 1024 * 1024;

/** The answer to a body over MAX_BODY_BYTES (default 1 MiB), declared or chunked. */
const TOO_LARGE = {
  errors: [{ message: `The request body is larger than the limit of ${MIB} bytes.`, extensions: { code: 'BAD_USER_INPUT', limit: MIB } }],
};

/** POSTs a raw body with the given headers over node:http (so Content-Length/chunking is under our control). */
function rawPost(url: string, body: string, { chunked = false } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      // A connection of its own: one a refused body was still being written on is not reused.
      agent: false,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(Buffer.byteLength(body)) }),
      },
    });
    req.on('response', (res) => {
      text(res).then((body) => resolve({ status: res.statusCode ?? 0, text: body }), reject);
    });
    // The server may answer 413 and close before the whole body is written.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    if (chunked) {
      const piece = 64 * 1024;
      for (let i = 0; i < body.length; i += piece) req.write(body.slice(i, i + piece));
    } else {
      req.write(body);
    }
    req.end();
  });
}

describe('input validation', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let threadId: string;

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake });
    const res = await server.gql(CREATE_THREAD, { input: { title: 'Validation' } });
    expect(res.errors).toBeUndefined();
    threadId = res.data.createThread.thread.id;
  });
  afterAll(async () => {
    await server.stop();
    await fake.close();
    removeTempDirs();
  });
  beforeEach(() => fake.reset());

  async function counts(): Promise<{ threads: number; messages: number; assistants: number }> {
    const res = await server.gql(
      `query ($id: ID!) {
        threads(first: 100) { edges { node { id } } }
        assistants(first: 100) { edges { node { id } } }
        thread(id: $id) { messages(first: 100) { edges { node { id } } } }
      }`,
      { id: threadId },
    );
    expect(res.errors).toBeUndefined();
    return {
      threads: res.data.threads.edges.length,
      assistants: res.data.assistants.edges.length,
      messages: res.data.thread.messages.edges.length,
    };
  }

  /** Runs the operation, expects BAD_USER_INPUT whose message names `field`, and that nothing was stored. */
  async function expectRefused(query: string, variables: Record<string, unknown>, field: string): Promise<void> {
    const before = await counts();
    const res = await server.gql(query, variables);
    expect(res.errors, `expected an error naming ${field}`).toBeDefined();
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.message).toContain(field);
    // Mutation payloads are nullable: the refused field is null, nothing else was asked.
    expect(Object.values(res.data ?? {}).every((v) => v === null)).toBe(true);
    expect(await counts()).toEqual(before);
    expect(fake.requests).toHaveLength(0);
  }

  const metadataCases: [string, Record<string, unknown>][] = [
    ['17 keys', Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))],
    ['a key of 65 characters', { ['k'.repeat(65)]: 'v' }],
    ['a value of 513 characters', { k: 'v'.repeat(513) }],
    ['a number value', { k: 1 }],
    ['an object value', { k: { nested: 'x' } }],
    ['a null value', { k: null }],
  ];

  it('sendMessage with empty content is BAD_USER_INPUT naming content', async () => {
    await expectRefused(SEND, { input: { threadId, content: '' } }, 'content');
    await expectRefused(SEND, { input: { threadId, content: '   \n ' } }, 'content');
  });

  it('sendMessage content over 100,000 characters is refused; exactly 100,000 passes', async () => {
    await expectRefused(SEND, { input: { threadId, content: 'x'.repeat(100_001) } }, 'content');

    fake.setDefault({ text: 'Long read.' });
    const before = await counts();
    const res = await server.gql(
      `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { message { content } reply { status } } }`,
      { input: { threadId, content: 'y'.repeat(100_000) } },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.sendMessage.message.content).toHaveLength(100_000);
    expect(res.data.sendMessage.reply).toEqual({ status: 'COMPLETED' });
    expect((await counts()).messages).toBe(before.messages + 2);
  });

  it.each(metadataCases)('sendMessage metadata with %s is BAD_USER_INPUT naming metadata', async (_name, metadata) => {
    await expectRefused(SEND, { input: { threadId, content: 'hello', metadata } }, 'metadata');
  });

  it('metadata at the limits (16 keys, 64-character key, 512-character value) passes', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, 'v']));
    metadata['k'.repeat(64)] = 'v'.repeat(512);
    const res = await server.gql(`mutation ($m: JSONObject) { createThread(input: { metadata: $m }) { thread { metadata } } }`, { m: metadata });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.thread.metadata).toEqual(metadata);
  });

  it.each(metadataCases)('createThread, updateThread, createAssistant and the threads filter refuse metadata with %s', async (_name, metadata) => {
    await expectRefused(CREATE_THREAD, { input: { title: 't', metadata } }, 'metadata');
    await expectRefused(
      CREATE_THREAD,
      { input: { messages: [{ role: 'USER', content: 'hi', metadata }] } },
      'metadata',
    );
    await expectRefused(
      `mutation ($input: UpdateThreadInput!) { updateThread(input: $input) { thread { id } } }`,
      { input: { threadId, metadata } },
      'metadata',
    );
    await expectRefused(
      `mutation ($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { id } } }`,
      { input: { name: 'a', metadata } },
      'metadata',
    );
    const filter = await server.gql(`query ($m: JSONObject) { threads(metadata: $m) { edges { node { id } } } }`, { m: metadata });
    expect(codeOf(filter)).toBe('BAD_USER_INPUT');
    expect(filter.errors![0]!.message).toContain('metadata');
  });

  it('updateThread with refused metadata leaves the stored metadata as it was', async () => {
    const created = await server.gql(`mutation ($m: JSONObject) { createThread(input: { title: "keep", metadata: $m }) { thread { id } } }`, {
      m: { a: '1' },
    });
    expect(created.errors).toBeUndefined();
    const id = created.data.createThread.thread.id;
    const res = await server.gql(
      `mutation ($input: UpdateThreadInput!) { updateThread(input: $input) { thread { id } } }`,
      { input: { threadId: id, title: 'changed', metadata: { a: 2 } } },
    );
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    const read = await server.gql(`query ($id: ID!) { thread(id: $id) { title metadata } }`, { id });
    expect(read.data.thread).toEqual({ title: 'keep', metadata: { a: '1' } });
  });

  it('a bad role enum is a GraphQL error and stores nothing', async () => {
    const before = await counts();
    const viaVariables = await server.gql(CREATE_THREAD, { input: { messages: [{ role: 'ROBOT', content: 'beep' }] } });
    expect(viaVariables.errors).toBeDefined();
    expect(viaVariables.errors![0]!.message).toContain('ROBOT');
    expect(viaVariables.data ?? null).toBeNull();

    const inline = await server.gql(`mutation { createThread(input: { messages: [{ role: ROBOT, content: "beep" }] }) { thread { id } } }`);
    expect(inline.errors).toBeDefined();
    expect(inline.data ?? null).toBeNull();

    expect(await counts()).toEqual(before);
    expect(fake.requests).toHaveLength(0);
  });

  it('createThread with a message of empty content is refused naming content, and no thread is stored', async () => {
    await expectRefused(
      CREATE_THREAD,
      { input: { title: 'Half', messages: [{ role: 'USER', content: 'fine' }, { role: 'ASSISTANT', content: '' }] } },
      'content',
    );
    await expectRefused(
      CREATE_THREAD,
      { input: { messages: [{ role: 'USER', content: 'z'.repeat(100_001) }] } },
      'content',
    );
  });

  it('sendMessage to an unknown thread is NOT_FOUND', async () => {
    const res = await server.gql(SEND, { input: { threadId: 'thread_AAAAAAAAAAAAAAAAAAAAAA', content: 'hello?' } });
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(fake.requests).toHaveLength(0);
  });

  it('a request body over 1 MiB is refused with HTTP 413 before GraphQL runs', async () => {
    const before = await counts();
    const body = JSON.stringify({
      query: `mutation { createThread(input: { title: "too big" }) { thread { id } } }`,
      variables: { pad: 'p'.repeat(MIB + 10) },
    });
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual(TOO_LARGE);
    expect(await counts()).toEqual(before);

    // Just under the limit: GraphQL runs and the thread is stored.
    const fits = JSON.stringify({
      query: `mutation { createThread(input: { title: "fits" }) { thread { id } } }`,
      variables: { pad: 'p'.repeat(MIB - 200) },
    });
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(MIB);
    const ok = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: fits });
    expect(ok.status).toBe(200);
    expect((await ok.json()).data.createThread.thread.id).toMatch(/^thread_/);
  });

  it('a chunked request body (no Content-Length) over 1 MiB is refused with HTTP 413 too', async () => {
    const before = await counts();
    const body = JSON.stringify({
      query: `mutation { createThread(input: { title: "chunked and too big" }) { thread { id } } }`,
      variables: { pad: 'p'.repeat(2 * MIB) },
    });
    const res = await rawPost(server.url, body, { chunked: true });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual(TOO_LARGE);
    expect(await counts()).toEqual(before);
  });

  it('a body that did not come over node:http is counted, whatever its Content-Length says', async () => {
    // Over node:http the declared length is all that is checked (Node's parser delivers exactly
    // that many bytes); a Request handed to yoga.fetch has no such guarantee.
    const { yoga } = createApp(server.services);
    const before = await counts();
    const tooBig = JSON.stringify({
      query: `mutation { createThread(input: { title: "understated" }) { thread { id } } }`,
      variables: { pad: 'p'.repeat(MIB + 10) },
    });
    const post = (body: string, headers: Record<string, string> = {}) =>
      yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    for (const headers of [{ 'content-length': '100' }, {}] as Record<string, string>[]) {
      const res = await post(tooBig, headers);
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual(TOO_LARGE);
    }
    expect(await counts()).toEqual(before);
    const fits = await post(JSON.stringify({ query: `mutation { createThread(input: { title: "counted, fits" }) { thread { id } } }` }));
    expect(fits.status).toBe(200);
    expect((await fits.json()).data.createThread.thread.id).toMatch(/^thread_/);
  });

  it('a Content-Length that is not one non-negative integer is refused (400)', async () => {
    // node:http refuses such a request itself; a Request handed to yoga.fetch reaches the check.
    const { yoga } = createApp(server.services);
    for (const declared of ['2, 2', '-1', 'abc']) {
      const res = await yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': declared }, body: '{}' });
      expect(res.status, declared).toBe(400);
      expect((await res.json()).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
  });

  it('a chunked request body just under 1 MiB, in many pieces, is read whole and served', async () => {
    const fits = JSON.stringify({
      query: `mutation { createThread(input: { title: "chunked and fits" }) { thread { id title } } }`,
      variables: { pad: 'p'.repeat(MIB - 200) },
    });
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(MIB);
    const res = await rawPost(server.url, fits, { chunked: true });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).data.createThread.thread).toMatchObject({ id: expect.stringMatching(/^thread_/), title: 'chunked and fits' });
  });

  it('a WebSocket frame over MAX_BODY_BYTES closes that socket (1009); other sockets go on being served', async () => {
    const other = subscribeWs(server.url, RUN_EVENTS, { runId: 'run_unknown' });
    await within(other.outcome, 3000, 'the other subscription to be answered');
    const big = subscribeWs(server.url, RUN_EVENTS, { runId: 'run_unknown', pad: 'p'.repeat(MIB + 10) });
    const closed = await within(big.closed, 3000, 'the oversized socket to close');
    expect(closed.code).toBe(1009);
    expect(big.results).toEqual([]);

    const after = subscribeWs(server.url, RUN_EVENTS, { runId: 'run_unknown' });
    const outcome = (await within(after.outcome, 3000, 'a subscription after the refusal')) as any;
    expect(JSON.stringify(outcome.error ?? after.results)).toContain('NOT_FOUND');
    other.close();
    after.close();
  });

  it('sendMessage while a run is active is THREAD_BUSY by default, and stores nothing', async () => {
    let resume!: () => void;
    fake.setDefault({ text: 'busy busy busy', pauseAfter: 1, resumeWhen: new Promise<void>((r) => (resume = r)) });
    const { threadId: busyThreadId, runId } = await startThread(server, 'Keep busy');
    try {
      await fake.waitForRequests(1);
      const MESSAGES = `query ($id: ID!) { thread(id: $id) { activeRun { id } messages { edges { node { id } } } runs { edges { node { id } } } } }`;
      // The reply is created with the first chunk, after the request: wait for it, or `after` below would gain it.
      const before = await waitUntil(async (): Promise<GqlResult<any> | null> => {
        const res = await server.gql(MESSAGES, { id: busyThreadId });
        return res.data.thread.messages.edges.length === 2 ? res : null;
      }, 'the reply to exist') as GqlResult<any>;
      expect(before.data.thread.activeRun).toEqual({ id: runId });

      const busy = await server.gql(SEND, { input: { threadId: busyThreadId, content: 'Are you there?' } });
      expect(codeOf(busy)).toBe('THREAD_BUSY');
      expect(busy.errors![0]!.extensions!.activeRunId).toBe(runId);
      expect(busy.data?.sendMessage ?? null).toBeNull();

      const explicit = await server.gql(SEND, { input: { threadId: busyThreadId, content: 'Still there?', onActiveRun: 'REJECT' } });
      expect(codeOf(explicit)).toBe('THREAD_BUSY');

      const after = await server.gql(MESSAGES, { id: busyThreadId });
      expect(after.data.thread).toEqual(before.data.thread);
      expect(fake.requests).toHaveLength(1);
    } finally {
      resume();
    }
    // Once the run has ended (runEvents completes after its terminal event), the thread takes messages again.
    const events = subscribeSse(server.url, RUN_EVENTS, { runId });
    await events.completed;
    expect(events.results.at(-1)!.data.runEvents.run).toMatchObject({ id: runId, status: 'COMPLETED' });
    const next = await server.gql(SEND, { input: { threadId: busyThreadId, content: 'Now?' } });
    expect(next.errors).toBeUndefined();
  });

  it('errors inside a deferred part keep their code (BAD_USER_INPUT), like those outside it', async () => {
    const { parts } = await postMultipart(
      server.url,
      `query ($id: ID!) { thread(id: $id) { id ... @defer { messages(first: -5) { edges { cursor } } } } }`,
      { id: threadId },
    );
    const errors = parts.flatMap((p) => (p.incremental ?? []).flatMap((i: any) => i.errors ?? []));
    expect(errors[0]?.message).toContain('first');
    expect(errors[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
