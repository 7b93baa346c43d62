import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { applyEvents, deferred, endedRun, eventsOf, NO_RATE_LIMIT, newThread, startThread, subscribeSse, subscribeWs, waitUntil, type Subscription, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';
import { RUN_EVENTS, THREAD_EVENTS } from './operations.js';
import { SUBSCRIBERS } from './stream-helpers.js';

/**
 * A client going away never cancels a run, and subscribing then disconnecting many times
 * leaves no listener behind.
 */

describe('client disconnects', () => {
  let fake: FakeProvider;
  let server: TestServer;
  const resumes: Array<() => void> = [];
  const listeners = () => server.services.events.pubsub.listenerCount();

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(async () => {
    for (const resume of resumes) resume();
    await stopWithFakeProvider(server, fake);
  });
  beforeEach(() => fake.reset());

  it.each(SUBSCRIBERS)('closing a runEvents subscription (%s) mid-run does not cancel the run', async (_name, subscribe) => {
    const pause = deferred();
    resumes.push(pause.resolve);
    const chunks = ['Keep ', 'going ', 'when ', 'nobody ', 'listens.'];
    fake.enqueue({ chunks, pauseAfter: 2, resumeWhen: pause.promise });
    const baseline = listeners();
    const { runId } = await startThread(server, 'Talk to me');
    await fake.waitForRequests(1);

    const sub: Subscription = subscribe(server.url, RUN_EVENTS, { runId });
    // Mid-run: the client has the first two words (from the snapshot or live deltas).
    const received = () => [...applyEvents(eventsOf(sub, 'runEvents')).values()];
    await waitUntil(() => received().includes('Keep going '), 'the first two words', 2000);
    expect(eventsOf(sub, 'runEvents').find((e) => e.__typename === 'RunStatusEvent')?.run?.status).toBe('IN_PROGRESS');
    expect(listeners()).toBe(baseline + 1);

    sub.close();
    // The server has seen the client go: its listener is gone, and the run goes on.
    await waitUntil(() => listeners() === baseline, 'the listener to be removed', 2000);
    expect(fake.aborted).toBe(0);

    pause.resolve();
    expect(await endedRun(server, runId)).toMatchObject({ status: 'COMPLETED', error: null, reply: { content: chunks.join(''), status: 'COMPLETED' } });
    expect(fake.aborted).toBe(0);
    expect(fake.requests).toHaveLength(1);
  });

  it('closing SSE and WebSocket subscriptions of the same paced run at once does not cancel it', async () => {
    const chunks = Array.from({ length: 12 }, (_, i) => `w${i} `);
    fake.enqueue({ chunks, paceMs: 15 });
    const baseline = listeners();
    const { threadId, runId } = await startThread(server, 'Stream slowly');
    const subs = [
      subscribeSse(server.url, RUN_EVENTS, { runId }),
      subscribeWs(server.url, RUN_EVENTS, { runId }),
      subscribeSse(server.url, THREAD_EVENTS, { threadId }),
      subscribeWs(server.url, THREAD_EVENTS, { threadId }),
    ];
    // Mid-run: each subscription has received at least one live delta.
    await Promise.all(
      subs.map(async (s) => {
        const hasDelta = () => s.results.some((r) => Object.values(r.data ?? {}).some((e: any) => e?.__typename === 'MessageDeltaEvent'));
        await waitUntil(hasDelta, 'a live delta', 3000);
      }),
    );
    for (const s of subs) s.close();
    await waitUntil(() => listeners() === baseline, 'the listeners to be removed', 2000);

    expect(await endedRun(server, runId)).toMatchObject({ status: 'COMPLETED', reply: { content: chunks.join(''), status: 'COMPLETED' } });
    expect(fake.aborted).toBe(0);
  });

  it('a client that disconnects from a sendMessage waiting for its reply does not cancel the run', async () => {
    const pause = deferred();
    resumes.push(pause.resolve);
    fake.enqueue({ text: 'Still here.', pauseAfter: 1, resumeWhen: pause.promise });
    const threadId = await newThread(server);
    const controller = new AbortController();
    const request = fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        query: `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "Wait for me" }) { run { id } reply { content } } }`,
        variables: { t: threadId },
      }),
      signal: controller.signal,
    });
    request.catch(() => {});
    await fake.waitForRequests(1);
    controller.abort();
    await expect(request).rejects.toThrow();

    pause.resolve();
    const thread = await server.gql(`query ($id: ID!) { thread(id: $id) { runs { edges { node { id } } } } }`, { id: threadId });
    const runId = thread.data.thread.runs.edges[0].node.id;
    expect(await endedRun(server, runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Still here.', status: 'COMPLETED' } });
    expect(fake.aborted).toBe(0);
  });

  it('500 threadEvents subscribe/disconnect cycles over SSE leave no listener behind', async () => {
    const { threadId, runId } = await startThread(server, 'Something to replay');
    await server.services.runs.waitForEnd(runId);
    const baseline = listeners();
    for (let batch = 0; batch < 10; batch++) {
      const subs = Array.from({ length: 50 }, () => subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 }));
      // Established: a replayed event has arrived, so the server-side listener exists.
      await Promise.all(subs.map((s) => s.waitFor(1)));
      expect(subs.every((s) => s.results[0]!.data.threadEvents.seq === 1)).toBe(true);
      expect(listeners()).toBeGreaterThanOrEqual(baseline + 50);
      for (const s of subs) s.close();
    }
    await waitUntil(() => listeners() === baseline, `listenerCount back to ${baseline} (is ${listeners()})`, 2000);
    expect(fake.aborted).toBe(0);
  });

  it('200 threadEvents subscribe/disconnect cycles over WebSocket leave no listener behind', async () => {
    const { threadId, runId } = await startThread(server, 'Something to replay over ws');
    await server.services.runs.waitForEnd(runId);
    const baseline = listeners();
    for (let batch = 0; batch < 4; batch++) {
      const subs = Array.from({ length: 50 }, () => subscribeWs(server.url, THREAD_EVENTS, { threadId, after: 0 }));
      await Promise.all(subs.map((s) => s.waitFor(1)));
      expect(listeners()).toBeGreaterThanOrEqual(baseline + 50);
      for (const s of subs) s.close();
    }
    await waitUntil(() => listeners() === baseline, `listenerCount back to ${baseline} (is ${listeners()})`, 2000);
  });
});
