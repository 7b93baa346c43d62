import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { codeOf, deferred, NO_RATE_LIMIT, newThread, sendMessage, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';
import { SEND } from './operations.js';

/** sendMessage's idempotencyKey: a retried send is the same send — one message, one provider call. */

/** The thread's messages and runs, exactly these fields (the assertions compare whole nodes). */
const THREAD = /* GraphQL */ `
  query Thread($id: ID!) {
    thread(id: $id) {
      messages { edges { node { id role content run { id } } } }
      runs { edges { node { id status } } }
    }
  }
`;

describe('sendMessage idempotencyKey', () => {
  let fake: FakeProvider;
  let server: TestServer;
  const resumes: Array<() => void> = [];

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(async () => {
    for (const resume of resumes) resume();
    await stopWithFakeProvider(server, fake);
  });
  beforeEach(() => fake.reset());

  async function threadOf(id: string) {
    const res = await server.gql(THREAD, { id });
    expect(res.errors).toBeUndefined();
    return {
      messages: res.data.thread.messages.edges.map((e: any) => e.node),
      runs: res.data.thread.runs.edges.map((e: any) => e.node),
    };
  }

  /** Waits for every run of the thread to end. */
  async function settle(threadId: string) {
    for (const run of (await threadOf(threadId)).runs) await server.services.runs.waitForEnd(run.id);
    return threadOf(threadId);
  }

  it('the same key twice returns the same message and run: one message stored, one provider call', async () => {
    const threadId = await newThread(server);
    const first = await sendMessage(server, { threadId, content: 'Hello', idempotencyKey: 'key-1' });
    await server.services.runs.waitForEnd(first.run.id);
    const again = await sendMessage(server, { threadId, content: 'Hello', idempotencyKey: 'key-1' });
    expect(again.message.id).toBe(first.message.id);
    expect(again.run.id).toBe(first.run.id);

    const thread = await settle(threadId);
    expect(thread.messages.filter((m: any) => m.role === 'USER')).toEqual([
      { id: first.message.id, role: 'USER', content: 'Hello', run: { id: first.run.id } },
    ]);
    expect(thread.runs).toEqual([{ id: first.run.id, status: 'COMPLETED' }]);
    expect(fake.requests).toHaveLength(1);
  });

  it('a retry while the original run is still active returns the original (not THREAD_BUSY)', async () => {
    const pause = deferred();
    resumes.push(pause.resolve);
    fake.enqueue({ text: 'Slow reply.', pauseAfter: 1, resumeWhen: pause.promise });
    const threadId = await newThread(server);
    const first = await sendMessage(server, { threadId, content: 'Slow please', idempotencyKey: 'retry-me' });
    await fake.waitForRequests(1);

    const retry = await server.gql(SEND, { input: { threadId, content: 'Slow please', idempotencyKey: 'retry-me' } });
    expect(codeOf(retry)).toBeUndefined();
    expect(retry.data.sendMessage.message.id).toBe(first.message.id);
    expect(retry.data.sendMessage.run.id).toBe(first.run.id);

    pause.resolve();
    const thread = await settle(threadId);
    expect(thread.messages.map((m: any) => [m.role, m.content])).toEqual([
      ['USER', 'Slow please'],
      ['ASSISTANT', 'Slow reply.'],
    ]);
    expect(fake.requests).toHaveLength(1);
  });

  it('two sends with the same key at the same moment get the same ids: one message, one provider call', async () => {
    const threadId = await newThread(server);
    const input = { threadId, content: 'At once', idempotencyKey: 'race-key' };
    const [a, b] = await Promise.all([server.gql(SEND, { input }), server.gql(SEND, { input })]);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    expect(b.data.sendMessage.message.id).toBe(a.data.sendMessage.message.id);
    expect(b.data.sendMessage.run.id).toBe(a.data.sendMessage.run.id);

    const thread = await settle(threadId);
    expect(thread.messages.filter((m: any) => m.role === 'USER')).toHaveLength(1);
    expect(thread.runs).toHaveLength(1);
    expect(fake.requests).toHaveLength(1);
  });

  it('many concurrent sends with one key and INTERRUPT against an active run still make one message and one run', async () => {
    const pause = deferred();
    resumes.push(pause.resolve);
    fake.enqueue({ text: 'Interrupted.', pauseAfter: 1, resumeWhen: pause.promise }, { text: 'Answer.' });
    const threadId = await newThread(server);
    const active = await sendMessage(server, { threadId, content: 'First' });
    await fake.waitForRequests(1);

    const input = { threadId, content: 'Second', idempotencyKey: 'interrupt-key', onActiveRun: 'INTERRUPT' };
    const results = await Promise.all([1, 2, 3].map(() => server.gql(SEND, { input })));
    for (const r of results) expect(r.errors).toBeUndefined();
    const ids = new Set(results.map((r) => `${r.data.sendMessage.message.id} ${r.data.sendMessage.run.id}`));
    expect(ids.size).toBe(1);

    const thread = await settle(threadId);
    expect(thread.runs.map((r: any) => r.status)).toEqual(['CANCELLED', 'COMPLETED']);
    expect(thread.runs[0].id).toBe(active.run.id);
    expect(thread.messages.filter((m: any) => m.role === 'USER').map((m: any) => m.content)).toEqual(['First', 'Second']);
    expect(fake.requests).toHaveLength(2);
  });

  it('the same key with different content is BAD_USER_INPUT naming idempotencyKey, and stores nothing', async () => {
    const threadId = await newThread(server);
    const first = await sendMessage(server, { threadId, content: 'Original', idempotencyKey: 'key-x' });
    await server.services.runs.waitForEnd(first.run.id);
    const res = await server.gql(SEND, { input: { threadId, content: 'Something else', idempotencyKey: 'key-x' } });
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.message).toContain('idempotencyKey');
    expect(res.data?.sendMessage ?? null).toBeNull();

    const thread = await settle(threadId);
    expect(thread.messages.filter((m: any) => m.role === 'USER').map((m: any) => m.content)).toEqual(['Original']);
    expect(fake.requests).toHaveLength(1);
  });

  it('the same key on a different thread is independent', async () => {
    const one = await newThread(server);
    const two = await newThread(server);
    const a = await sendMessage(server, { threadId: one, content: 'Same words', idempotencyKey: 'shared-key' });
    const b = await sendMessage(server, { threadId: two, content: 'Same words', idempotencyKey: 'shared-key' });
    expect(b.message.id).not.toBe(a.message.id);
    expect(b.run.id).not.toBe(a.run.id);
    // And with different content too: a key only means something on its own thread.
    await server.services.runs.waitForEnd(b.run.id);
    const three = await newThread(server);
    const c = await sendMessage(server, { threadId: three, content: 'Other words', idempotencyKey: 'shared-key' });

    for (const [threadId, content] of [[one, 'Same words'], [two, 'Same words'], [three, 'Other words']] as const) {
      const thread = await settle(threadId);
      expect(thread.messages.filter((m: any) => m.role === 'USER').map((m: any) => m.content)).toEqual([content]);
      expect(thread.runs.map((r: any) => r.status)).toEqual(['COMPLETED']);
    }
    expect(c.message.id).not.toBe(a.message.id);
    expect(fake.requests).toHaveLength(3);
  });

  it('sends without a key are never deduplicated', async () => {
    const threadId = await newThread(server);
    const a = await sendMessage(server, { threadId, content: 'Again' });
    await server.services.runs.waitForEnd(a.run.id);
    const b = await sendMessage(server, { threadId, content: 'Again' });
    expect(b.message.id).not.toBe(a.message.id);
    const thread = await settle(threadId);
    expect(thread.messages.filter((m: any) => m.role === 'USER')).toHaveLength(2);
    expect(fake.requests).toHaveLength(2);
  });
});
