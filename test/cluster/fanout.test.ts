import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyEvents, deferred, eventsOf, subscribeSse, waitUntil, type EventData, type SseSubscription } from '../helpers.js';
import { RUN_EVENTS, SEND, THREAD_EVENTS } from '../operations.js';
import { describeCluster, ok, startCluster, type Cluster, type Instance } from './harness.js';
import { expectContents, expectIncreasing, expectSameAsStored, storedContents, storedEvents } from './invariants.js';

/**
 * Live fan-out across instances: a run executes on A, subscribers read it on B (and A). A's
 * streamed text stays unstored for as long as the run is paused (a flush interval longer than
 * the test, FLUSH_MAX_CHARS out of reach), so what B gets live is what only A's memory and
 * Redis hold: B sees it before the database does, and nothing is lost or doubled at the
 * replay/live boundary.
 */

const CHUNKS = Array.from({ length: 40 }, (_, i) => `w${i} `);
const PAUSE_AT = 15;

const threadEvents = (sub: SseSubscription) => eventsOf(sub, 'threadEvents');
const deltasOf = (events: EventData[], runId: string) => events.filter((e) => e.__typename === 'MessageDeltaEvent' && e.runId === runId);
const ended = (events: EventData[], runId: string) => events.some((e) => e.__typename === 'RunStatusEvent' && e.run!.id === runId && e.run!.status === 'COMPLETED');

async function send(instance: Instance, threadId: string, content: string): Promise<string> {
  return (await ok(instance, SEND, { input: { threadId, content } })).sendMessage.run.id;
}

async function lastEventSeq(instance: Instance, threadId: string): Promise<number> {
  return (await ok(instance, `query ($id: ID!) { thread(id: $id) { lastEventSeq } }`, { id: threadId })).thread.lastEventSeq;
}

async function storedDeltaCount(cluster: Cluster, runId: string): Promise<number> {
  const [[count]] = (await cluster.sql(`select count(*) from events where type = 'MESSAGE_DELTA' and payload->>'runId' = '${runId}'`)) as [[string]];
  return Number(count);
}

describeCluster('live fan-out across instances (Redis)', () => {
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    cluster = await startCluster({ instances: 2, env: { FLUSH_INTERVAL_MS: '600000', FLUSH_MAX_CHARS: '1000000' } });
    [a, b] = cluster.instances as [Instance, Instance];
  });
  afterAll(() => cluster?.close());

  let threadId: string;
  let firstRun: string;

  it('a subscriber on B sees a run executing on A live, before it is stored, and exact', async () => {
    threadId = (await ok(a, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id;
    const onB = subscribeSse(b.url, THREAD_EVENTS, { threadId, after: 0 });
    const onA = subscribeSse(a.url, THREAD_EVENTS, { threadId, after: 0 });
    const gate = deferred();
    cluster.provider.enqueue({ chunks: CHUNKS, pauseAfter: PAUSE_AT, resumeWhen: gate.promise });
    firstRun = await send(a, threadId, 'Tell me something long.');

    // Mid-run: B has every delta A published, none of which is in the database yet.
    await waitUntil(() => deltasOf(threadEvents(onB), firstRun).length === PAUSE_AT, `B gets ${PAUSE_AT} deltas live`, 10_000);
    expect(await storedDeltaCount(cluster, firstRun)).toBe(0);
    expect(deltasOf(threadEvents(onB), firstRun).map((e) => e.delta).join('')).toBe(CHUNKS.slice(0, PAUSE_AT).join(''));

    gate.resolve();
    await waitUntil(() => ended(threadEvents(onB), firstRun) && ended(threadEvents(onA), firstRun), 'both see COMPLETED', 10_000);
    onA.close();
    onB.close();

    const stored = await storedEvents(cluster, threadId);
    const contents = await storedContents(cluster, threadId);
    for (const [who, events] of [['B', threadEvents(onB)], ['A', threadEvents(onA)]] as const) {
      expectSameAsStored(events, stored, who);
      expect(events.at(-1)!.seq, `${who} got through the end`).toBe(stored.at(-1)!.seq);
      expectContents(applyEvents(events), contents, who);
    }
    expect([...contents.values()]).toContain(CHUNKS.join(''));
  });

  it('replay from B of the run A executed equals the stored log', async () => {
    const stored = await storedEvents(cluster, threadId);
    const replay = subscribeSse(b.url, THREAD_EVENTS, { threadId, after: 0 });
    await replay.waitFor(stored.length, 10_000);
    replay.close();
    expectSameAsStored(threadEvents(replay), stored, 'replay on B');
    expect(threadEvents(replay)).toHaveLength(stored.length);
  });

  it('threadEvents(after: lastEventSeq) and runEvents on B while A holds unstored deltas: no gap, no duplicate', async () => {
    const onA = subscribeSse(a.url, THREAD_EVENTS, { threadId, after: null });
    const gate = deferred();
    cluster.provider.enqueue({ chunks: CHUNKS, pauseAfter: PAUSE_AT, resumeWhen: gate.promise });
    const runId = await send(a, threadId, 'And another one.');
    await waitUntil(() => deltasOf(threadEvents(onA), runId).length === PAUSE_AT, 'A streams up to the pause', 10_000);

    // What B says is stored stops before A's deltas: they exist only in A's memory and Redis.
    const stored = await lastEventSeq(b, threadId);
    const published = threadEvents(onA).at(-1)!.seq;
    expect(await storedDeltaCount(cluster, runId)).toBe(0);
    expect(stored).toBeLessThan(published);

    const fromB = subscribeSse(b.url, THREAD_EVENTS, { threadId, after: stored });
    const runOnB = subscribeSse(b.url, RUN_EVENTS, { runId });
    await waitUntil(() => threadEvents(fromB).at(-1)?.seq === published, 'B has caught up with what A published', 10_000);
    expect(deltasOf(threadEvents(fromB), runId)).toHaveLength(PAUSE_AT);

    gate.resolve();
    await runOnB.completed;
    await waitUntil(() => ended(threadEvents(fromB), runId), 'B sees the end', 10_000);
    onA.close();
    fromB.close();

    const log = await storedEvents(cluster, threadId, stored);
    expectSameAsStored(threadEvents(fromB), log, 'threadEvents(after) on B');
    expect(threadEvents(fromB)[0]!.seq).toBe(log[0]!.seq);
    const runEvents = eventsOf(runOnB, 'runEvents');
    // After the snapshot (the reply so far and the status, both at the snapshot's seq).
    expectIncreasing(runEvents.slice(runEvents.findIndex((e) => e.__typename === 'RunStatusEvent')), 'runEvents on B');
    const reply = [...(await storedContents(cluster, threadId)).values()].filter((c) => c === CHUNKS.join(''));
    expect(reply).toHaveLength(2);
    expect([...applyEvents(runEvents).values()]).toEqual([CHUNKS.join('')]);
  });

  it('a foreign write (ENQUEUE from B) amid A\'s unstored deltas: subscribers on A and B get every stored event once, in seq order', async () => {
    const after = await lastEventSeq(b, threadId);
    const onA = subscribeSse(a.url, THREAD_EVENTS, { threadId, after });
    const onB = subscribeSse(b.url, THREAD_EVENTS, { threadId, after });
    const gate = deferred();
    cluster.provider.enqueue({ chunks: CHUNKS, pauseAfter: PAUSE_AT, resumeWhen: gate.promise }, { chunks: ['queued ', 'reply'] });
    const streaming = await send(a, threadId, 'One more.');
    await waitUntil(() => deltasOf(threadEvents(onB), streaming).length === PAUSE_AT, 'B hears A', 10_000);

    // B writes on the busy thread (a message and a QUEUED run) above A's window: a gap for every subscriber.
    const queued = (await ok(b, SEND, { input: { threadId, content: 'Then this.', onActiveRun: 'ENQUEUE' } })).sendMessage.run.id;
    gate.resolve();
    await waitUntil(() => [onA, onB].every((sub) => ended(threadEvents(sub), queued)), 'both see the queued run complete', 15_000);
    onA.close();
    onB.close();

    const stored = await storedEvents(cluster, threadId, after);
    // The foreign write's seqs lie above A's window: the stored log has a gap they jumped.
    expect(stored.some((e, i) => i > 0 && e.seq > stored[i - 1]!.seq + 1), stored.map((e) => e.seq).join(',')).toBe(true);
    const contents = await storedContents(cluster, threadId);
    for (const [who, sub] of [['A', onA], ['B', onB]] as const) {
      const events = threadEvents(sub);
      expectSameAsStored(events, stored, who);
      expect(events.at(-1)!.seq, `${who} got through the end`).toBe(stored.at(-1)!.seq);
      expectContents(applyEvents(events), contents, who);
    }
    expect([...contents.values()]).toContain('queued reply');
  });
});
