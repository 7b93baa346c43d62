import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyEvents, deferred, eventsOf, subscribeSse, waitUntil, type EventData } from '../helpers.js';
import { RUN_EVENTS, SEND, THREAD_EVENTS } from '../operations.js';
import { clusterAvailable, describeCluster, ok, startCluster, type Cluster, type Instance } from './harness.js';
import { expectContents, expectIncreasing, expectSameAsStored, storedContents, storedEvents } from './invariants.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';

/**
 * Redis dies (SIGKILL) mid-stream and comes back empty. A's run goes on and is stored as if
 * nothing happened (a failing publish never blocks storage); B's subscribers, which cannot hear
 * A meanwhile, read the database instead, end with exactly what is stored, and hear the next
 * run live again without reconnecting. The Redis here is the test's own, on a free port.
 */

const CHUNKS = Array.from({ length: 40 }, (_, i) => `r${i} `);
const PAUSE_AT = 15;

const deltasOf = (events: EventData[], runId: string) => events.filter((e) => e.__typename === 'MessageDeltaEvent' && e.runId === runId);
const ended = (events: EventData[], runId: string) => events.some((e) => e.__typename === 'RunStatusEvent' && e.run!.id === runId && e.run!.status === 'COMPLETED');

async function ready(instance: Instance): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL('/ready', instance.url));
  return { status: res.status, body: await res.json() };
}

describeCluster('a Redis restart mid-stream', () => {
  let redis: PrivateRedis;
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    if (!clusterAvailable) return;
    redis = await startPrivateRedis();
    // Streamed text stays unstored until the run ends: what B gets before then came through Redis.
    cluster = await startCluster({ instances: 2, env: { REDIS_URL: redis.url, FLUSH_INTERVAL_MS: '600000', FLUSH_MAX_CHARS: '1000000' } });
    [a, b] = cluster.instances as [Instance, Instance];
  });
  afterAll(async () => {
    await cluster?.close();
    await redis?.stop();
  });

  it('loses no stored data, and live delivery to B recovers by itself', async () => {
    const threadId = (await ok(a, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id;
    const onB = subscribeSse(b.url, THREAD_EVENTS, { threadId, after: 0 });
    const gate = deferred();
    cluster.provider.enqueue({ chunks: CHUNKS, pauseAfter: PAUSE_AT, resumeWhen: gate.promise, paceMs: 5 });
    const first = (await ok(a, SEND, { input: { threadId, content: 'Before, during and after.' } })).sendMessage.run.id;
    const runOnB = subscribeSse(b.url, RUN_EVENTS, { runId: first });
    const threadEvents = () => eventsOf(onB, 'threadEvents');
    await waitUntil(() => deltasOf(threadEvents(), first).length === PAUSE_AT, 'B hears A live', 10_000);

    await redis.kill();
    await waitUntil(async () => (await ready(b)).status === 503, "B's /ready notices", 5000);
    expect((await ready(b)).body.checks.redis).toBe('not answering');

    // The rest of the run streams while Redis is gone: A stores it all the same.
    gate.resolve();
    await waitUntil(async () => (await cluster.sql(`select status from runs where id = '${first}'`))[0]?.[0] === 'COMPLETED', 'the run completes and is stored', 10_000);
    // B's subscribers read the database meanwhile: they reach the end without Redis.
    await runOnB.completed;
    await waitUntil(() => ended(threadEvents(), first), 'B sees the end without Redis', 10_000);

    await redis.restart();
    await waitUntil(async () => (await ready(b)).status === 200 && (await ready(a)).status === 200, 'both instances ready again', 10_000);

    // The same subscription hears the next run live: deltas reach B while none is stored.
    const gate2 = deferred();
    cluster.provider.enqueue({ chunks: CHUNKS, pauseAfter: PAUSE_AT, resumeWhen: gate2.promise });
    const second = (await ok(a, SEND, { input: { threadId, content: 'Again.' } })).sendMessage.run.id;
    await waitUntil(() => deltasOf(threadEvents(), second).length === PAUSE_AT, 'B hears A live again', 10_000);
    const [[unstored]] = (await cluster.sql(`select count(*) from events where type = 'MESSAGE_DELTA' and payload->>'runId' = '${second}'`)) as [[string]];
    expect(Number(unstored)).toBe(0);
    gate2.resolve();
    await waitUntil(() => ended(threadEvents(), second), 'B sees the second end', 10_000);
    onB.close();

    const stored = await storedEvents(cluster, threadId);
    expectSameAsStored(threadEvents(), stored, 'threadEvents on B');
    expect(threadEvents().at(-1)!.seq).toBe(stored.at(-1)!.seq);
    expectContents(applyEvents(threadEvents()), await storedContents(cluster, threadId), 'B');
    const runEvents = eventsOf(runOnB, 'runEvents');
    expectIncreasing(runEvents.slice(runEvents.findIndex((e) => e.__typename === 'RunStatusEvent')), 'runEvents on B');
    expect([...applyEvents(runEvents).values()]).toEqual([CHUNKS.join('')]);
  });

  it('a frozen Redis (SIGSTOP) holds nothing for long: B replays a run from the database and A still runs', async () => {
    const threadId = (await ok(a, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id;
    cluster.provider.enqueue({ chunks: CHUNKS });
    const runId = (await ok(a, SEND, { input: { threadId, content: 'Frozen?' } })).sendMessage.run.id;
    await waitUntil(async () => (await cluster.sql(`select status from runs where id = '${runId}'`))[0]?.[0] === 'COMPLETED', 'the run completes', 10_000);

    redis.freeze();
    try {
      // Every Redis call gives up within its timeout: the replay answers from the database.
      const stored = await storedEvents(cluster, threadId);
      const replay = subscribeSse(b.url, THREAD_EVENTS, { threadId, after: 0 });
      await replay.waitFor(stored.length, 15_000);
      replay.close();
      expectSameAsStored(eventsOf(replay, 'threadEvents'), stored, 'replay on B, Redis frozen');
      // A run starts and ends on A meanwhile (its publishes time out; its storage does not wait for them).
      cluster.provider.enqueue({ chunks: ['cold ', 'hands'] });
      const next = (await ok(a, SEND, { input: { threadId, content: 'Still?' } })).sendMessage.run.id;
      await waitUntil(async () => (await cluster.sql(`select status from runs where id = '${next}'`))[0]?.[0] === 'COMPLETED', 'a run completes with Redis frozen', 15_000);
    } finally {
      redis.thaw();
    }
    await waitUntil(async () => (await ready(b)).status === 200, 'B ready once Redis answers', 10_000);
  });
});
