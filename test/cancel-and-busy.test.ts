import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { codeOf, conversationOf, deferred, endedRun, NO_RATE_LIMIT, newThread, runOf, sendMessage, threadOf, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';
import { RUN_FIELDS, SEND } from './operations.js';

/**
 * cancelRun and onActiveRun (REJECT / ENQUEUE / INTERRUPT): a cancelled run keeps every word it
 * streamed, frees its thread at once, and runs of one thread never overlap.
 */

const CANCEL = /* GraphQL */ `mutation Cancel($id: ID!) { cancelRun(input: { runId: $id }) { run { ${RUN_FIELDS} } } }`;

/**
 * Watches a thread's live events inside the server process (its pubsub): the deltas each run
 * streamed, and a timeline of run starts and ends.
 */
function watchThread(server: TestServer, threadId: string) {
  const text = new Map<string, string>();
  const timeline: string[] = [];
  const checks = new Set<() => void>();
  const subscription = server.services.events.pubsub.subscribe(threadId, {
    event(event) {
      if (event.kind === 'MESSAGE_DELTA') text.set(event.runId, (text.get(event.runId) ?? '') + event.delta);
      if (event.kind === 'RUN_STATUS') {
        const { id, status } = event.run;
        if (status === 'IN_PROGRESS') timeline.push(`start ${id}`);
        else if (status !== 'QUEUED') timeline.push(`end ${id} ${status}`);
      }
      for (const check of [...checks]) check();
    },
  });
  return {
    timeline,
    /** Everything streamed for the run so far. */
    textOf: (runId: string) => text.get(runId) ?? '',
    until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          checks.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => (checks.delete(check), reject(new Error(`timed out waiting for ${what}`))), timeoutMs);
        checks.add(check);
        check();
      });
    },
    close: () => subscription.unsubscribe(),
  };
}

describe('cancelRun and onActiveRun', () => {
  let fake: FakeProvider;
  let server: TestServer;
  const resumes: Array<() => void> = [];

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(async () => {
    for (const resume of resumes) resume();
    await stopWithFakeProvider(server, fake);
  });
  beforeEach(() => fake.reset());

  /** A pause point the fake waits on; released at the latest when the file ends. */
  function pausePoint() {
    const d = deferred();
    resumes.push(d.resolve);
    return d;
  }

  it('cancelRun aborts the provider request within a second and keeps the streamed words as an INCOMPLETE reply', async () => {
    const pause = pausePoint();
    fake.enqueue({ chunks: ['One ', 'two ', 'three ', 'four.'], pauseAfter: 2, resumeWhen: pause.promise });
    const threadId = await newThread(server);
    const watch = watchThread(server, threadId);
    const { run } = await sendMessage(server, { threadId, content: 'Count to four' });
    await watch.until(() => watch.textOf(run.id) === 'One two ', 'the first two deltas');

    const t0 = Date.now();
    const res = await server.gql(CANCEL, { id: run.id });
    expect(res.errors).toBeUndefined();
    await fake.waitForAborted(1, 1000);
    expect(Date.now() - t0).toBeLessThan(1000);

    const cancelled = res.data.cancelRun.run;
    expect(cancelled).toMatchObject({ id: run.id, status: 'CANCELLED', error: null, reply: { content: 'One two ', status: 'INCOMPLETE' } });
    expect(cancelled.completedAt).not.toBeNull();
    // The stored reply is exactly what was streamed before the cancel: nothing lost, nothing added.
    expect(watch.textOf(run.id)).toBe('One two ');
    expect((await runOf(server, run.id)).reply).toEqual(cancelled.reply);

    // The thread is free at once: no THREAD_BUSY.
    const next = await server.gql(SEND, { input: { threadId, content: 'Try again' } });
    expect(codeOf(next)).toBeUndefined();
    const nextRun = await endedRun(server, next.data.sendMessage.run.id);
    expect(nextRun).toMatchObject({ status: 'COMPLETED', reply: { content: 'Hello from the fake provider.', status: 'COMPLETED' } });
    expect(fake.requests).toHaveLength(2);
    expect(fake.aborted).toBe(1);

    const thread = await threadOf(server, threadId);
    expect(thread.messages.map((m: any) => [m.role, m.content, m.status])).toEqual([
      ['USER', 'Count to four', 'COMPLETED'],
      ['ASSISTANT', 'One two ', 'INCOMPLETE'],
      ['USER', 'Try again', 'COMPLETED'],
      ['ASSISTANT', 'Hello from the fake provider.', 'COMPLETED'],
    ]);
    watch.close();
  });

  it('cancelRun before any output ends the run CANCELLED without a reply', async () => {
    // The provider asks for a long Retry-After: the cancel must not wait for the SDK's retry sleep.
    fake.enqueue({ status: 429, retryAfter: '3' });
    const threadId = await newThread(server);
    const { run } = await sendMessage(server, { threadId, content: 'Are you there?' });
    await fake.waitForRequests(1);
    const t0 = Date.now();
    const res = await server.gql(CANCEL, { id: run.id });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(res.errors).toBeUndefined();
    expect(res.data.cancelRun.run).toMatchObject({ status: 'CANCELLED', error: null, reply: null });
    const thread = await threadOf(server, threadId);
    expect(thread.activeRun).toBeNull();
    expect(thread.messages.map((m: any) => m.content)).toEqual(['Are you there?']);
  });

  it('cancelling a finished run returns it unchanged', async () => {
    const threadId = await newThread(server);
    const { run } = await sendMessage(server, { threadId, content: 'Hi' });
    const before = await endedRun(server, run.id);
    expect(before.status).toBe('COMPLETED');
    const res = await server.gql(CANCEL, { id: run.id });
    expect(res.errors).toBeUndefined();
    expect(res.data.cancelRun.run).toEqual(before);
    expect(await runOf(server, run.id)).toEqual(before);
    expect(fake.aborted).toBe(0);
  });

  it('cancelRun with an unknown id is NOT_FOUND', async () => {
    const res = await server.gql(CANCEL, { id: 'run_doesnotexist0000000000' });
    expect(codeOf(res)).toBe('NOT_FOUND');
  });

  it('cancelling a QUEUED run ends it CANCELLED and it never reaches the provider', async () => {
    const pause = pausePoint();
    fake.enqueue({ text: 'First answer.', pauseAfter: 1, resumeWhen: pause.promise });
    const threadId = await newThread(server);
    const first = await sendMessage(server, { threadId, content: 'First' });
    await fake.waitForRequests(1);
    const queued = await sendMessage(server, { threadId, content: 'Second', onActiveRun: 'ENQUEUE' });
    expect(queued.run.status).toBe('QUEUED');

    const res = await server.gql(CANCEL, { id: queued.run.id });
    expect(res.errors).toBeUndefined();
    expect(res.data.cancelRun.run).toMatchObject({ id: queued.run.id, status: 'CANCELLED', reply: null, startedAt: null });
    expect((await threadOf(server, threadId)).activeRun).toEqual({ id: first.run.id, status: 'IN_PROGRESS' });

    pause.resolve();
    expect(await endedRun(server, first.run.id)).toMatchObject({ status: 'COMPLETED', reply: { content: 'First answer.' } });
    const third = await sendMessage(server, { threadId, content: 'Third' });
    expect((await endedRun(server, third.run.id)).status).toBe('COMPLETED');

    // Two provider calls: the first run and the third; the cancelled one never went out.
    expect(fake.requests).toHaveLength(2);
    expect(conversationOf(fake.requests[1]!).at(-1)).toEqual({ role: 'user', content: 'Third' });
    expect(await runOf(server, queued.run.id)).toMatchObject({ status: 'CANCELLED', startedAt: null, reply: null });
  });

  it('cancelling the active run starts the run queued behind it', async () => {
    const pause = pausePoint();
    fake.enqueue({ chunks: ['Never ', 'mind.'], pauseAfter: 1, resumeWhen: pause.promise }, { text: 'Queued answer.' });
    const threadId = await newThread(server);
    const watch = watchThread(server, threadId);
    const a = await sendMessage(server, { threadId, content: 'First' });
    await watch.until(() => watch.textOf(a.run.id) === 'Never ', 'the first delta');
    const b = await sendMessage(server, { threadId, content: 'Second', onActiveRun: 'ENQUEUE' });

    const res = await server.gql(CANCEL, { id: a.run.id });
    expect(res.data.cancelRun.run).toMatchObject({ status: 'CANCELLED', reply: { content: 'Never ', status: 'INCOMPLETE' } });
    expect(await endedRun(server, b.run.id)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Queued answer.' } });
    expect(watch.timeline).toEqual([`start ${a.run.id}`, `end ${a.run.id} CANCELLED`, `start ${b.run.id}`, `end ${b.run.id} COMPLETED`]);
    const history = conversationOf(fake.requests[1]!);
    expect(history[0]).toEqual({ role: 'user', content: 'First' });
    expect(history.at(-1)).toEqual({ role: 'user', content: 'Second' });
    watch.close();
  });

  it('REJECT is the default: a second message while a run is active fails with THREAD_BUSY and stores nothing', async () => {
    const pause = pausePoint();
    fake.enqueue({ text: 'Busy answer.', pauseAfter: 1, resumeWhen: pause.promise });
    const threadId = await newThread(server);
    const first = await sendMessage(server, { threadId, content: 'First' });
    await fake.waitForRequests(1);

    const implicit = await server.gql(SEND, { input: { threadId, content: 'Second' } });
    expect(codeOf(implicit)).toBe('THREAD_BUSY');
    const explicit = await server.gql(SEND, { input: { threadId, content: 'Second', onActiveRun: 'REJECT' } });
    expect(codeOf(explicit)).toBe('THREAD_BUSY');

    const thread = await threadOf(server, threadId);
    expect(thread.messages.filter((m: any) => m.role === 'USER').map((m: any) => m.content)).toEqual(['First']);
    expect(thread.runs.map((r: any) => r.id)).toEqual([first.run.id]);

    pause.resolve();
    expect((await endedRun(server, first.run.id)).status).toBe('COMPLETED');
    expect(fake.requests).toHaveLength(1);
  });

  it('ENQUEUE queues runs that start in order, never overlap, and send the replies of the runs before them', async () => {
    const pause = pausePoint();
    const threadId = await newThread(server);
    const watch = watchThread(server, threadId);
    // When a request arrives, the fake must have no other response still being written.
    const arrived = (n: number) => watch.timeline.push(`request ${n}, other responses open: ${fake.inFlight}`);
    fake.enqueue(
      { text: 'Reply one.', pauseAfter: 1, resumeWhen: pause.promise, onRequest: () => arrived(1) },
      { text: 'Reply two.', paceMs: 5, onRequest: () => arrived(2) },
      { text: 'Reply three.', onRequest: () => arrived(3) },
    );
    const a = await sendMessage(server, { threadId, content: 'Message A' });
    await fake.waitForRequests(1);
    const b = await sendMessage(server, { threadId, content: 'Message B', onActiveRun: 'ENQUEUE' });
    const c = await sendMessage(server, { threadId, content: 'Message C', onActiveRun: 'ENQUEUE' });
    expect(b.run.status).toBe('QUEUED');
    expect(c.run.status).toBe('QUEUED');
    expect((await threadOf(server, threadId)).activeRun).toEqual({ id: a.run.id, status: 'IN_PROGRESS' });
    expect(fake.requests).toHaveLength(1);

    pause.resolve();
    const runs = [await endedRun(server, a.run.id), await endedRun(server, b.run.id), await endedRun(server, c.run.id)];
    expect(runs.map((r) => [r.status, r.reply?.content])).toEqual([
      ['COMPLETED', 'Reply one.'],
      ['COMPLETED', 'Reply two.'],
      ['COMPLETED', 'Reply three.'],
    ]);

    // One run at a time, in order: each request goes out only after the previous run ended.
    expect(watch.timeline).toEqual([
      `start ${a.run.id}`,
      'request 1, other responses open: 0',
      `end ${a.run.id} COMPLETED`,
      `start ${b.run.id}`,
      'request 2, other responses open: 0',
      `end ${b.run.id} COMPLETED`,
      `start ${c.run.id}`,
      'request 3, other responses open: 0',
      `end ${c.run.id} COMPLETED`,
    ]);
    for (let i = 1; i < runs.length; i++) {
      expect(Date.parse(runs[i].startedAt)).toBeGreaterThanOrEqual(Date.parse(runs[i - 1].completedAt));
      // Started by the end of the one before it, not by the dispatcher's poll (every 2 s).
      expect(Date.parse(runs[i].startedAt) - Date.parse(runs[i - 1].completedAt)).toBeLessThan(500);
    }

    // Each run's history holds the replies of the runs before it, each after its own question.
    expect(fake.requests.map(conversationOf)).toEqual([
      [{ role: 'user', content: 'Message A' }],
      [
        { role: 'user', content: 'Message A' },
        { role: 'assistant', content: 'Reply one.' },
        { role: 'user', content: 'Message B' },
      ],
      [
        { role: 'user', content: 'Message A' },
        { role: 'assistant', content: 'Reply one.' },
        { role: 'user', content: 'Message B' },
        { role: 'assistant', content: 'Reply two.' },
        { role: 'user', content: 'Message C' },
      ],
    ]);
    watch.close();
  });

  it('INTERRUPT cancels the active run (partial reply kept INCOMPLETE), then the new run starts and completes', async () => {
    const pause = pausePoint();
    const threadId = await newThread(server);
    const watch = watchThread(server, threadId);
    fake.enqueue(
      { chunks: ['Partial ', 'answer ', 'that ', 'never ', 'ends.'], pauseAfter: 2, resumeWhen: pause.promise },
      { text: 'Fresh answer.' },
    );
    const a = await sendMessage(server, { threadId, content: 'Tell me a long story' });
    await watch.until(() => watch.textOf(a.run.id) === 'Partial answer ', 'the first two deltas');

    const res = await server.gql(SEND, { input: { threadId, content: 'Actually, be brief', onActiveRun: 'INTERRUPT' } });
    expect(res.errors).toBeUndefined();
    const b = res.data.sendMessage;
    expect(b.run.id).not.toBe(a.run.id);
    await fake.waitForAborted(1, 1000);

    expect(await endedRun(server, a.run.id)).toMatchObject({ status: 'CANCELLED', reply: { content: 'Partial answer ', status: 'INCOMPLETE' } });
    expect(await endedRun(server, b.run.id)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Fresh answer.', status: 'COMPLETED' } });
    expect(watch.timeline).toEqual([
      `start ${a.run.id}`,
      `end ${a.run.id} CANCELLED`,
      `start ${b.run.id}`,
      `end ${b.run.id} COMPLETED`,
    ]);
    expect(fake.requests).toHaveLength(2);
    expect(conversationOf(fake.requests[1]!).at(-1)).toEqual({ role: 'user', content: 'Actually, be brief' });

    const thread = await threadOf(server, threadId);
    expect(thread.messages.map((m: any) => [m.role, m.content, m.status])).toEqual([
      ['USER', 'Tell me a long story', 'COMPLETED'],
      ['ASSISTANT', 'Partial answer ', 'INCOMPLETE'],
      ['USER', 'Actually, be brief', 'COMPLETED'],
      ['ASSISTANT', 'Fresh answer.', 'COMPLETED'],
    ]);
    watch.close();
  });

  it('INTERRUPT also cancels the runs queued behind the active one', async () => {
    const pause = pausePoint();
    fake.enqueue({ text: 'Slow.', pauseAfter: 1, resumeWhen: pause.promise }, { text: 'Latest.' });
    const threadId = await newThread(server);
    const a = await sendMessage(server, { threadId, content: 'A' });
    await fake.waitForRequests(1);
    const b = await sendMessage(server, { threadId, content: 'B', onActiveRun: 'ENQUEUE' });
    const c = await sendMessage(server, { threadId, content: 'C', onActiveRun: 'INTERRUPT' });
    expect((await endedRun(server, a.run.id)).status).toBe('CANCELLED');
    expect(await endedRun(server, b.run.id)).toMatchObject({ status: 'CANCELLED', startedAt: null });
    expect(await endedRun(server, c.run.id)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Latest.' } });
    expect(fake.requests).toHaveLength(2);
  });

  it('ENQUEUE and INTERRUPT on an idle thread start the run at once', async () => {
    const threadId = await newThread(server);
    const a = await sendMessage(server, { threadId, content: 'one', onActiveRun: 'ENQUEUE' });
    expect((await endedRun(server, a.run.id)).status).toBe('COMPLETED');
    const b = await sendMessage(server, { threadId, content: 'two', onActiveRun: 'INTERRUPT' });
    expect((await endedRun(server, b.run.id)).status).toBe('COMPLETED');
    expect(fake.requests).toHaveLength(2);
    expect(fake.aborted).toBe(0);
  });
});
