import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitUntil } from '../helpers.js';
import { startRun } from './cluster-helpers.js';
import { describeCluster, ok, printLogsOnFailure, startCluster, type Cluster, type Instance } from './harness.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';

/**
 * cancelRun's durable side: with Redis down the cancel message from B never reaches A, and the
 * run still ends CANCELLED within a lease renewal (A reads cancel_requested_at when it renews).
 */
describeCluster('cancelRun from another instance while Redis is down', () => {
  let redis: PrivateRedis;
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    redis = await startPrivateRedis();
    cluster = await startCluster({ instances: 2, env: { REDIS_URL: redis.url } });
    [a, b] = cluster.instances as [Instance, Instance];
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
    await redis?.stop();
  });

  it('the run streaming on A ends CANCELLED, its provider request aborted, though no message could reach A', async () => {
    cluster.provider.enqueue({ chunks: ['partial ', 'answer ', 'never finished'], stallAfter: 2 });
    const { runId } = await startRun(a, 'Cancel me without Redis');
    await waitUntil(async () => (await cluster.sql(`select content from messages where run_id = '${runId}' and role = 'ASSISTANT'`))[0]?.[0] === 'partial answer ', 'the streamed words are stored', 10_000);
    await redis.kill();
    const cancelled = await ok(b, `mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { status reply { content status } } } }`, { id: runId });
    expect(cancelled.cancelRun.run).toEqual({ status: 'CANCELLED', reply: { content: 'partial answer ', status: 'INCOMPLETE' } });
    await cluster.provider.waitForAborted(1, 5000);
    const stored = await cluster.sql(`select status, cancel_requested_at is not null from runs where id = '${runId}'`);
    expect(stored[0]).toEqual(['CANCELLED', 't']);
  });
});
