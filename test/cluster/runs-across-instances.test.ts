import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { conversationOf, deferred, postMultipart, waitUntil } from '../helpers.js';
import {
  endedRun,
  eventsOf,
  expectLiveEqualsStore,
  expectReplayEqualsStore,
  isEndOf,
  mostExecutingPerThread,
  newThread,
  runEventsOn,
  runOn,
  send,
  startRun,
  threadEventsOn,
  waitForEvent,
} from './cluster-helpers.js';
import { describeCluster, printLogsOnFailure, ok, startCluster, type Cluster, type Instance } from './harness.js';

/**
 * Two instances on one PostgreSQL database and Redis: whichever instance gets a request, a
 * thread has one executing run, queued runs start in order, an idempotency key holds, and
 * cancelRun / deleteThread / INTERRUPT stop the run where it executes.
 */
describeCluster('runs across two instances', () => {
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  const gates: (() => void)[] = [];
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await startCluster({ instances: 2 });
    [a, b] = cluster.instances as [Instance, Instance];
  }, 60_000);
  afterAll(async () => {
    for (const open of gates) open();
    await cluster?.close();
  });
  beforeEach(() => {
    cluster.provider.reset();
  });
  const gate = () => {
    const d = deferred();
    gates.push(d.resolve);
    return d;
  };

  it('REJECT: sends racing on A and B to one idle thread start exactly one run; the other is THREAD_BUSY', async () => {
    cluster.provider.setDefault({ text: 'One answer.', paceMs: 5 });
    const threads = await Promise.all(Array.from({ length: 10 }, () => newThread(a)));
    const answers = await Promise.all(
      threads.map((threadId) => Promise.all([send(a, { threadId, content: 'from A' }), send(b, { threadId, content: 'from B' })])),
    );
    const runIds: string[] = [];
    for (const pair of answers) {
      const winners = pair.filter((r) => !r.errors);
      expect(winners).toHaveLength(1);
      expect(pair.find((r) => r.errors)!.errors![0]!.extensions!.code).toBe('THREAD_BUSY');
      runIds.push(winners[0]!.data.sendMessage.run.id);
    }
    expect(await mostExecutingPerThread(cluster)).toBeLessThanOrEqual(1);
    for (const runId of runIds) expect((await endedRun(b, runId)).status).toBe('COMPLETED');
    expect(cluster.provider.requests).toHaveLength(10);
  });

  it('ENQUEUE: racing sends both run, one after the other in the order stored, never overlapping', async () => {
    cluster.provider.setDefault({ text: 'A slower answer with several words in it.', paceMs: 15 });
    const threads = await Promise.all(Array.from({ length: 4 }, () => newThread(a)));
    const pairs = await Promise.all(
      threads.map((threadId) =>
        Promise.all([send(a, { threadId, content: 'first?', onActiveRun: 'ENQUEUE' }), send(b, { threadId, content: 'second?', onActiveRun: 'ENQUEUE' })]),
      ),
    );
    for (const pair of pairs) {
      expect(pair.every((r) => !r.errors)).toBe(true);
      const ended = await Promise.all(pair.map((r) => endedRun(a, r.data.sendMessage.run.id)));
      expect(ended.map((r) => r.status)).toEqual(['COMPLETED', 'COMPLETED']);
      const [first, second] = [...ended].sort((x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt));
      expect(Date.parse(second.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.completedAt));
    }
    expect(cluster.provider.requests).toHaveLength(8);
    // Each second run was sent the first one's whole reply: it started after that reply was stored.
    const sawReply = cluster.provider.requests.filter((req) =>
      conversationOf(req).some((t) => t.role === 'assistant' && t.content === 'A slower answer with several words in it.'),
    );
    expect(sawReply).toHaveLength(4);
  });

  it('INTERRUPT on B cancels the run streaming on A (partial reply INCOMPLETE), then the new run completes', async () => {
    const held = gate();
    cluster.provider.enqueue({ chunks: ['partial ', 'words ', 'then ', 'more'], pauseAfter: 2, resumeWhen: held.promise }, { text: 'The new answer.' });
    const { threadId, runId } = await startRun(a, 'First question');
    const watch = runEventsOn(b, runId);
    await waitForEvent(watch, 'runEvents', (e) => e.__typename === 'MessageDeltaEvent' && e.delta === 'words ', 'two deltas seen on B');
    const next = await send(b, { threadId, content: 'Never mind, this instead', onActiveRun: 'INTERRUPT' });
    expect(next.errors).toBeUndefined();
    const interrupted = await runOn(a, runId);
    expect(interrupted).toMatchObject({ status: 'CANCELLED', reply: { status: 'INCOMPLETE', content: 'partial words ' } });
    await cluster.provider.waitForAborted(1);
    await waitForEvent(watch, 'runEvents', isEndOf(runId), 'B hears of the end');
    expect((await endedRun(b, next.data.sendMessage.run.id)).reply).toMatchObject({ content: 'The new answer.', status: 'COMPLETED' });
    expect(cluster.provider.requests).toHaveLength(2);
    watch.close();
  });

  it('an idempotent retry on the other instance: one message, one run, one provider call; other content is refused', async () => {
    cluster.provider.setDefault({ text: 'Answered once.' });
    const threads = await Promise.all(Array.from({ length: 10 }, () => newThread(a)));
    const pairs = await Promise.all(
      threads.map((threadId, i) => {
        const input = { threadId, content: `question ${i}`, idempotencyKey: `key-${i}` };
        return Promise.all([send(a, input), send(b, input)]);
      }),
    );
    for (const [fromA, fromB] of pairs) {
      expect(fromA!.errors).toBeUndefined();
      expect(fromB!.errors).toBeUndefined();
      expect(fromB!.data.sendMessage.message.id).toBe(fromA!.data.sendMessage.message.id);
      expect(fromB!.data.sendMessage.run.id).toBe(fromA!.data.sendMessage.run.id);
      await endedRun(a, fromA!.data.sendMessage.run.id);
    }
    expect(cluster.provider.requests).toHaveLength(10);
    const other = await send(b, { threadId: threads[0], content: 'something else', idempotencyKey: 'key-0' });
    expect(other.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const count = await cluster.sql(`select count(*) from messages where thread_id = '${threads[0]}'`);
    expect(count[0]![0]).toBe('2');
  });

  it('cancelRun on B stops the run streaming on A: its provider request is aborted, subscribers on both instances get the end', async () => {
    cluster.provider.enqueue({ chunks: ['only ', 'this ', 'much'], stallAfter: 2 });
    const { threadId, runId } = await startRun(a, 'A question that hangs');
    const onA = threadEventsOn(a, threadId, 0);
    const onB = threadEventsOn(b, threadId, 0);
    await waitForEvent(onB, 'threadEvents', (e) => e.delta === 'this ', 'deltas reach B');
    const cancelled = await ok(b, `mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { id status reply { content status } } } }`, { id: runId });
    expect(cancelled.cancelRun.run).toMatchObject({ status: 'CANCELLED', reply: { content: 'only this ', status: 'INCOMPLETE' } });
    await cluster.provider.waitForAborted(1);
    for (const sub of [onA, onB]) await waitForEvent(sub, 'threadEvents', isEndOf(runId), 'the end reaches every subscriber');
    for (const sub of [onA, onB]) await expectLiveEqualsStore(a, threadId, eventsOf(sub, 'threadEvents'));
    onA.close();
    onB.close();
    await expectReplayEqualsStore(cluster, b, threadId);
  });

  it('deleteThread on B while A streams: the run stops, subscribers on both instances end, the thread is gone everywhere', async () => {
    cluster.provider.enqueue({ chunks: ['doomed ', 'words ', 'here'], stallAfter: 2 });
    const { threadId, runId } = await startRun(a, 'Soon deleted');
    const onA = runEventsOn(a, runId);
    const onB = threadEventsOn(b, threadId, 0);
    await waitForEvent(onB, 'threadEvents', (e) => e.delta === 'words ', 'deltas reach B');
    const deleted = await ok(b, `mutation ($id: ID!) { deleteThread(input: { threadId: $id }) { deletedThreadId } }`, { id: threadId });
    expect(deleted.deleteThread.deletedThreadId).toBe(threadId);
    await cluster.provider.waitForAborted(1);
    await Promise.all([onA.completed, onB.completed]);
    expect(eventsOf(onA, 'runEvents').at(-1)).toMatchObject({ run: { id: runId, status: 'CANCELLED' } });
    for (const instance of [a, b]) expect((await instance.gql(`query ($id: ID!) { thread(id: $id) { id } }`, { id: threadId })).data.thread).toBeNull();
    const left = await cluster.sql(`select (select count(*) from runs where thread_id = '${threadId}') + (select count(*) from events where thread_id = '${threadId}')`);
    expect(left[0]![0]).toBe('0');
  });

  it('ENQUEUE behind a run on A: the queued run starts as soon as A is done, and waiters on B get its reply', async () => {
    const held = gate();
    cluster.provider.enqueue({ chunks: ['first ', 'answer'], pauseAfter: 1, resumeWhen: held.promise }, { text: 'Queued answer.' });
    const { threadId, runId } = await startRun(a, 'First');
    await cluster.provider.waitForRequests(1);
    // B's answer is deferred until the queued run's reply exists: a waiter on B for a run A executes.
    const deferredReply = postMultipart(
      b.url,
      `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "Second", onActiveRun: ENQUEUE }) { run { id status } ... @defer { reply { content status } } } }`,
      { t: threadId },
    );
    const queuedRun = (await waitUntil(async () => (await cluster.sql(`select id, status from runs where thread_id = '${threadId}' and id <> '${runId}'`))[0], 'the queued run is stored'))!;
    expect(queuedRun[1]).toBe('QUEUED');
    held.resolve();
    const { parts } = await deferredReply;
    expect(parts[0].data.sendMessage.run).toEqual({ id: queuedRun[0], status: 'QUEUED' });
    expect(parts.at(-1).incremental[0].data.reply).toEqual({ content: 'Queued answer.', status: 'COMPLETED' });
    expect(await mostExecutingPerThread(cluster)).toBeLessThanOrEqual(1);
  });

  it("ENQUEUE from B while A's run awaits its first token: subscribers see the queued message at once, not after A's next delta", async () => {
    cluster.provider.enqueue({ text: 'Slow to start.', delayFirstMs: 8000 });
    cluster.provider.setDefault({ text: 'The queued answer.' });
    const { threadId, runId } = await startRun(a, 'Think long');
    await cluster.provider.waitForRequests(1);
    const onB = threadEventsOn(b, threadId, 0);
    const onA = threadEventsOn(a, threadId, 0);
    const queued = await send(b, { threadId, content: 'And then this', onActiveRun: 'ENQUEUE' });
    const queuedRunId = queued.data.sendMessage.run.id;
    for (const sub of [onA, onB]) {
      await waitForEvent(sub, 'threadEvents', (e) => e.__typename === 'RunStatusEvent' && e.run?.id === queuedRunId, 'the queued run is seen', 5000);
      // Stored above A's window, its events became visible when A stored on B's request, before A's run wrote anything.
      expect(eventsOf(sub, 'threadEvents').some((e) => e.__typename === 'MessageDeltaEvent')).toBe(false);
    }
    await ok(b, `mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { status } } }`, { id: runId });
    expect((await endedRun(b, queuedRunId)).reply.content).toBe('The queued answer.');
    onA.close();
    onB.close();
    await expectReplayEqualsStore(cluster, b, threadId);
  });

  it('a run waiting for tool outputs on A goes on where submitToolOutputs arrives (B), which executes its next leg', async () => {
    cluster.provider.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }] }, { text: 'Sunny in Paris.' });
    const created = await ok(
      a,
      `mutation ($input: CreateThreadInput!) { createThread(input: $input) { thread { id } run { id } reply { status } } }`,
      { input: { messages: [{ role: 'USER', content: 'Weather in Paris?' }], tools: [{ name: 'get_weather', description: 'The weather.', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] } },
    );
    const runId = created.createThread.run.id;
    const waiting = await ok(a, `query ($id: ID!) { run(id: $id) { status requiredAction { toolCalls { id } } } }`, { id: runId });
    expect(waiting.run.status).toBe('REQUIRES_ACTION');
    const callId = waiting.run.requiredAction.toolCalls[0].id;
    const submitted = await ok(b, `mutation ($input: SubmitToolOutputsInput!) { submitToolOutputs(input: $input) { run { id status } } }`, {
      input: { runId, toolOutputs: [{ toolCallId: callId, output: '{"sky":"sunny"}' }] },
    });
    expect(submitted.submitToolOutputs.run.status).toBe('IN_PROGRESS');
    expect((await endedRun(a, runId)).reply).toMatchObject({ content: 'Sunny in Paris.', status: 'COMPLETED' });
    expect(cluster.provider.requests).toHaveLength(2);
  });
});
