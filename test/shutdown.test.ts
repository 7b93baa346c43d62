import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import {
  applyEvents,
  deferred,
  eventsOf,
  NO_RATE_LIMIT,
  removeTempDirs,
  runOf,
  startTestServer,
  startThread,
  subscribeSse,
  waitUntil,
  within,
  type Subscription,
  type TestServer,
} from './helpers.js';
import { RUN_EVENTS } from './operations.js';
import { SUBSCRIBERS } from './stream-helpers.js';

/**
 * Graceful shutdown: runs get SHUTDOWN_GRACE_MS to finish; the rest end FAILED SERVER_SHUTDOWN
 * with their partial reply kept, open subscriptions receive that terminal event and complete,
 * and the next start-up leaves ended runs as they are.
 */

const THREAD = /* GraphQL */ `
  query Thread($id: ID!) { thread(id: $id) { activeRun { id } messages { edges { node { role content status } } } } }
`;

/** How a subscription ended: completed by the server, or broken (connection cut, socket closed). */
async function howItEnded(sub: Subscription, timeoutMs = 2000): Promise<string> {
  return within(
    sub.completed.then(
      () => 'completed',
      (err: any) => `broken: ${err?.code ?? ''} ${err?.reason ?? err?.message ?? String(err)}`.trim(),
    ),
    timeoutMs,
    'the subscription to end',
  ).catch((err: Error) => err.message);
}

/** The reply text a subscriber has assembled from its events. */
const textOf = (sub: Subscription) => [...applyEvents(eventsOf(sub, 'runEvents')).values()].join('');

describe('graceful shutdown', () => {
  const fakes: FakeProvider[] = [];
  const servers: TestServer[] = [];
  const resumes: Array<() => void> = [];

  afterEach(async () => {
    for (const resume of resumes.splice(0)) resume();
    for (const s of servers.splice(0)) await s.stop();
    for (const f of fakes.splice(0)) await f.close();
  });
  afterAll(() => removeTempDirs());

  async function setup(env: Record<string, string>) {
    const fake = await startFakeProvider();
    fakes.push(fake);
    const server = await startTestServer({ provider: fake, env: { ...NO_RATE_LIMIT, ...env } });
    servers.push(server);
    return { fake, server };
  }

  async function restart(fake: FakeProvider, databaseFile: string) {
    const server = await startTestServer({ provider: fake, databaseFile, env: NO_RATE_LIMIT });
    servers.push(server);
    return server;
  }

  it('a stalled run ends FAILED SERVER_SHUTDOWN after the grace period, its partial reply kept INCOMPLETE', async () => {
    const { fake, server } = await setup({ SHUTDOWN_GRACE_MS: '200' });
    fake.enqueue({ chunks: ['Half ', 'a ', 'thought ', 'never ', 'finished.'], stallAfter: 2 });
    const { threadId, runId } = await startThread(server, 'Think out loud');
    const sub = subscribeSse(server.url, RUN_EVENTS, { runId });
    await waitUntil(() => textOf(sub) === 'Half a ', 'the first two words');

    const t0 = Date.now();
    await within(server.stop(), 5000, 'server.stop()');
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(150); // the run was given its grace period
    expect(elapsed).toBeLessThan(3000);
    await fake.waitForAborted(1);

    // The next start-up finds the run as shutdown left it (not SERVER_RESTARTED).
    const next = await restart(fake, server.databaseFile);
    const run = await runOf(next, runId);
    expect(run).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_SHUTDOWN' }, reply: { content: 'Half a ', status: 'INCOMPLETE' } });
    expect(run.completedAt).not.toBeNull();
    const thread = (await next.gql(THREAD, { id: threadId })).data.thread;
    expect(thread.activeRun).toBeNull();
    expect(thread.messages.edges.map((e: any) => e.node)).toEqual([
      { role: 'USER', content: 'Think out loud', status: 'COMPLETED' },
      { role: 'ASSISTANT', content: 'Half a ', status: 'INCOMPLETE' },
    ]);
    expect(fake.requests).toHaveLength(1);

    // And the thread is usable again.
    const sent = await next.gql(
      `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "Try again" }) { reply { content status } } }`,
      { t: threadId },
    );
    expect(sent.errors).toBeUndefined();
    expect(sent.data.sendMessage.reply).toEqual({ content: 'Hello from the fake provider.', status: 'COMPLETED' });
  });

  it.each(SUBSCRIBERS)('an open runEvents subscription (%s) receives the terminal FAILED SERVER_SHUTDOWN event, then completes', async (_name, subscribe) => {
    const { fake, server } = await setup({ SHUTDOWN_GRACE_MS: '200' });
    fake.enqueue({ chunks: ['Half ', 'a ', 'thought ', 'never ', 'finished.'], stallAfter: 2 });
    const { runId } = await startThread(server, 'Think out loud');
    const sub = subscribe(server.url, RUN_EVENTS, { runId });
    await waitUntil(() => textOf(sub) === 'Half a ', 'the first two words');

    await within(server.stop(), 5000, 'server.stop()');
    const ending = await howItEnded(sub);
    const events = eventsOf(sub, 'runEvents');
    expect(events.at(-1)).toMatchObject({
      __typename: 'RunStatusEvent',
      run: { id: runId, status: 'FAILED', error: { code: 'SERVER_SHUTDOWN' } },
    });
    expect(events.at(-2)).toMatchObject({ __typename: 'MessageEvent', message: { content: 'Half a ', status: 'INCOMPLETE' } });
    expect(textOf(sub)).toBe('Half a ');
    expect(ending).toBe('completed');
  });

  it.each(SUBSCRIBERS)('a run that finishes within the grace period ends COMPLETED; its subscriber (%s) gets every event', async (_name, subscribe) => {
    const { fake, server } = await setup({ SHUTDOWN_GRACE_MS: '5000' });
    const pause = deferred();
    resumes.push(pause.resolve);
    fake.enqueue({ chunks: ['Almost ', 'done ', 'now.'], pauseAfter: 1, resumeWhen: pause.promise });
    const { runId } = await startThread(server, 'Finish up');
    const sub = subscribe(server.url, RUN_EVENTS, { runId });
    await waitUntil(() => textOf(sub) === 'Almost ', 'the first word');

    const t0 = Date.now();
    const stopping = server.stop();
    pause.resolve();
    await within(stopping, 4000, 'server.stop()');
    // stop() returns when the run has ended, without waiting out the rest of the grace period.
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(fake.aborted).toBe(0);

    const next = await restart(fake, server.databaseFile);
    const run = await runOf(next, runId);
    expect(run).toMatchObject({ status: 'COMPLETED', error: null, reply: { content: 'Almost done now.', status: 'COMPLETED' } });

    const ending = await howItEnded(sub);
    expect(eventsOf(sub, 'runEvents').at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { status: 'COMPLETED' } });
    expect(textOf(sub)).toBe('Almost done now.');
    expect(ending).toBe('completed');
  });

  it('a QUEUED run is not lost: it stays QUEUED through the shutdown and the next start-up runs it', async () => {
    const { fake, server } = await setup({ SHUTDOWN_GRACE_MS: '100' });
    fake.enqueue({ chunks: ['Stuck ', 'here.'], stallAfter: 1 });
    const { threadId, runId } = await startThread(server, 'First');
    await fake.waitForRequests(1);
    const queued = await server.gql(
      `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "Second", onActiveRun: ENQUEUE }) { run { id status } } }`,
      { t: threadId },
    );
    expect(queued.errors).toBeUndefined();
    const queuedId: string = queued.data.sendMessage.run.id;
    expect(queued.data.sendMessage.run.status).toBe('QUEUED');

    await within(server.stop(), 5000, 'server.stop()');
    expect(fake.requests).toHaveLength(1);

    fake.setDefault({ text: 'Second answer.' });
    const next = await restart(fake, server.databaseFile);
    await within(next.services.runs.waitForEnd(queuedId), 3000, 'the queued run to end');
    expect(await runOf(next, runId)).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_SHUTDOWN' } });
    expect(await runOf(next, queuedId)).toMatchObject({
      status: 'COMPLETED',
      reply: { content: 'Second answer.', status: 'COMPLETED' },
    });
    expect(fake.requests).toHaveLength(2);
    expect(JSON.stringify(fake.requests[1]!.body.input)).toContain('Second');
  });

  it('stop() with no active run returns at once', async () => {
    const { server } = await setup({ SHUTDOWN_GRACE_MS: '5000' });
    const t0 = Date.now();
    await within(server.stop(), 4000, 'server.stop()');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
