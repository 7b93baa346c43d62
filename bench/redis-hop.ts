import { setUpCluster, startServer, stopServer, type Server } from './cluster-processes.js';
import { gql, openSse, sleep } from './clients.js';
import { SEND, THREAD_EVENTS, row, type Bench, type FigureResult } from './context.js';
import { fmtAdded, fmtMs, percentile, tooFewSamples } from './stats.js';

/**
 * Figure 10: what the Redis hop adds. Two threadql processes on one PostgreSQL database and one
 * Redis; a run executes on A; one subscriber on A (the in-process fast path) and one on B (the
 * event crosses Redis) wait for its first token. Added = B's first token − A's first token of
 * the same run, so the provider, the run's start and A's own work cancel out.
 */

const CHUNKS = 6;
const PACE_MS = 10;

/** Time of the first MessageDeltaEvent each subscriber receives for one run started on A. */
async function round(a: Server, b: Server): Promise<{ a: number; b: number }> {
  const threadId = (await gql(a.url, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id as string;
  const firsts: { a?: number; b?: number } = {};
  const body = JSON.stringify({ query: THREAD_EVENTS, variables: { t: threadId } });
  const arrived = (who: 'a' | 'b', resolve: () => void) => (data: string, time: number) => {
    if (firsts[who] === undefined && JSON.parse(data).data?.threadEvents?.__typename === 'MessageDeltaEvent') {
      firsts[who] = time;
      resolve();
    }
  };
  let gotA!: () => void;
  let gotB!: () => void;
  const both = Promise.all([new Promise<void>((r) => (gotA = r)), new Promise<void>((r) => (gotB = r))]);
  const onA = openSse(a.url, body, arrived('a', gotA));
  const onB = openSse(b.url, body, arrived('b', gotB));
  await Promise.all([onA.ready, onB.ready]);
  // The stream opens (its first bytes) before B has subscribed the thread's channel in Redis: let both settle.
  await sleep(250);
  await gql(a.url, SEND, { t: threadId, c: 'Hello?' });
  await Promise.race([both, sleep(10_000).then(() => Promise.reject(new Error('no first token within 10 s')))]);
  onA.close();
  onB.close();
  return { a: firsts.a!, b: firsts.b! };
}

export async function measureRedisHop(bench: Bench): Promise<FigureResult> {
  const cluster = await setUpCluster(bench, 'hop');
  const env = cluster.env;
  const servers: Server[] = [];
  const samples: { a: number; b: number }[] = [];
  const rounds = bench.quick ? 20 : 100;
  try {
    // One after the other: the first migrates the new database.
    servers.push(await startServer(env('A')));
    servers.push(await startServer(env('B')));
    const [a, b] = servers as [Server, Server];
    bench.provider.shape = { chunks: CHUNKS, paceMs: PACE_MS };
    for (let i = 0; i < 3; i++) await round(a, b);
    for (let i = 0; i < rounds; i++) samples.push(await round(a, b));
  } finally {
    await Promise.all(servers.map(stopServer));
    await cluster.cleanup();
  }

  const added = samples.map((s) => s.b - s.a);
  const hopRow = (pct: number) =>
    row({
      figure: '10',
      metric: `first token through B for a run on A, added over a subscriber on A, p${pct}`,
      threadql: `B +${fmtMs(percentile(added, pct))}`,
      baseline: 'A (same run)',
      // No ratio: both subscribers see the same run; the difference is the figure.
      ratio: '—',
      goal: null,
      value: percentile(added, pct),
      format: fmtAdded,
      notMeasured: tooFewSamples(added.length, pct),
      columnsFromValue: true,
    });
  return {
    rows: [hopRow(50), hopRow(95), hopRow(99)],
    workload: [
      `Two threadql processes (A, B) on one PostgreSQL database and one Redis (REDIS_URL), NODE_ENV=production. ${rounds} sequential runs on A after 3 warm-up runs, replies of ${CHUNKS} deltas ${PACE_MS} ms apart (Responses API).`,
      'Each run: a new thread, one `threadEvents` SSE subscription on A and one on B, then `sendMessage` on A; for each subscriber the arrival time of its first `MessageDeltaEvent`. Added = B − A for the same run (both clients in the bench process, one clock).',
    ],
    notes: [
      'A subscriber on A gets the delta from A\'s in-process bus; B gets it from Redis pub/sub (A publishes through one Lua script that also keeps it in the thread\'s recent set). The figure is the cost of that hop: a publish, Redis, and B\'s subscriber connection.',
    ],
  };
}
