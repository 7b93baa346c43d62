import { afterAll, beforeAll, expect, it } from 'vitest';
import { bearer } from '../auth-helpers.js';
import { codeOf, subscribeSse, subscribeWs, waitUntil, within, type Subscription } from '../helpers.js';
import { THREAD_EVENTS } from '../operations.js';
import { spawnProcess } from '../process-helpers.js';
import { describeCluster, ok, REDIS_URL, startCluster, type Cluster, type Instance } from './harness.js';

/**
 * What is counted per owner is counted across instances (Redis): runs started, open
 * subscriptions; and revoking a key ends its subscriptions on every instance.
 */

const RUNS = 4;
const SUBSCRIPTIONS = 2;
const START = `mutation { createThread(input: { messages: [{ role: USER, content: "hi" }] }) { thread { id } run { id } } }`;

/** The keys CLI on the cluster's database (and Redis, for the revocation hint), as an operator runs it. */
async function keys(cluster: Cluster, ...args: string[]): Promise<string> {
  const cli = spawnProcess({
    command: [process.execPath, '--import', 'tsx', 'scripts/keys.ts', ...args],
    env: { DATABASE_URL: cluster.databaseUrl, REDIS_URL: REDIS_URL!, REDIS_PREFIX: cluster.redisPrefix, NODE_ENV: 'development' },
  });
  const { code } = await cli.exited;
  if (code !== 0) throw new Error(`keys ${args.join(' ')} failed:\n${cli.output()}`);
  return cli.output();
}

/** The first payload of a subscription that must be refused: its errors. */
async function refusal(sub: Subscription): Promise<{ code: string | undefined; message: string }> {
  await sub.waitFor(1, 5000);
  sub.close();
  const errors = sub.results[0]!.errors;
  expect(errors?.length, JSON.stringify(sub.results[0])).toBeGreaterThan(0);
  return { code: codeOf({ errors }), message: errors![0]!.message };
}

describeCluster('limits and revocation across instances (Redis)', () => {
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    cluster = await startCluster({ instances: 2, env: { RATE_LIMIT_RUNS: String(RUNS), MAX_SUBSCRIPTIONS_PER_OWNER: String(SUBSCRIPTIONS) } });
    [a, b] = cluster.instances as [Instance, Instance];
  });
  afterAll(() => cluster?.close());

  let threadWithEvents: string;

  it(`runs started are counted across instances: ${RUNS} in the window, on A and B together`, async () => {
    for (let i = 0; i < RUNS; i++) threadWithEvents = (await ok(i % 2 === 0 ? a : b, START)).createThread.thread.id;
    for (const instance of [a, b]) {
      const refused = await instance.gql(START);
      expect(codeOf(refused), instance.id).toBe('RATE_LIMITED');
      expect(refused.errors![0]!.message).toMatch(/runs started/);
      expect(refused.errors![0]!.extensions!.retryAfter).toBeGreaterThan(0);
    }
  });

  it(`open subscriptions are capped per owner across instances (${SUBSCRIPTIONS})`, async () => {
    // A replay from 0 answers at once with the thread's first event: an accepted subscription shows itself.
    const variables = { threadId: threadWithEvents, after: 0 };
    const onA = subscribeSse(a.url, THREAD_EVENTS, variables);
    const onB = subscribeWs(b.url, THREAD_EVENTS, variables);
    await Promise.all([onA.waitFor(1), onB.waitFor(1)]);
    expect(onA.results[0]!.errors).toBeUndefined();
    expect(onB.results[0]!.errors).toBeUndefined();
    for (const third of [subscribeSse(a.url, THREAD_EVENTS, variables), subscribeWs(b.url, THREAD_EVENTS, variables)]) {
      const refused = await refusal(third);
      expect(refused.code).toBe('RATE_LIMITED');
      expect(refused.message).toMatch(/MAX_SUBSCRIPTIONS_PER_OWNER/);
      expect(refused.message).toMatch(/\b2\b/);
    }

    // Closing the one on B frees its place for A.
    onB.close();
    const next = await waitUntil(
      async () => {
        const sub = subscribeSse(a.url, THREAD_EVENTS, variables);
        await sub.waitFor(1);
        if (!sub.results[0]!.errors) return sub;
        sub.close();
        return null;
      },
      'the place B released is taken on A',
      10_000,
    );
    next!.close();
    onA.close();
  });

  it('revoking a key (keys CLI) ends its open subscriptions on every instance: at once on the Redis hint, within the 500 ms sweep without it', async () => {
    const created = await keys(cluster, 'create', '--owner', 'alice');
    const key = /(tql_\S+)/.exec(created)![1]!;
    const id = /Created key (key_\S+)/.exec(created)![1]!;
    const res = await fetch(a.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(key) },
      body: JSON.stringify({ query: START }),
    });
    const threadId = ((await res.json()) as any).data.createThread.thread.id;
    const sseOnA = subscribeSse(a.url, THREAD_EVENTS, { threadId, after: 0 }, key);
    const wsOnB = subscribeWs(b.url, THREAD_EVENTS, { threadId, after: 0 }, { params: { authorization: `Bearer ${key}` } });
    // (Two: alice's cap, MAX_SUBSCRIPTIONS_PER_OWNER, is 2 here.)
    await Promise.all([sseOnA.waitFor(1), wsOnB.waitFor(1)]);

    await keys(cluster, 'revoke', id);
    const [sse, ws] = await Promise.all([within(sseOnA.completed, 2000, 'SSE on A ends'), within(wsOnB.closed, 2000, 'WebSocket on B closes')]);
    expect(['complete', 'eof']).toContain(sse.how);
    expect(codeOf(sseOnA.results.at(-1)!)).toBe('UNAUTHENTICATED');
    expect(ws.code).toBe(4401);
  });
});
