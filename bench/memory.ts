import { openFilesLimit, type Child } from './children.js';
import { openSse, pool, sleep, type SseConnection } from './clients.js';
import { THREAD_EVENTS, createThread, type Bench, type FigureResult } from './context.js';
import { fmtInt, fmtKb, fmtRatio } from './stats.js';

/**
 * Figure 5: memory per idle subscription. The server process's RSS (after forced GCs) with no
 * subscription, then with N idle `threadEvents` subscriptions over SSE (each its own HTTP/1.1
 * connection, as browsers' EventSource-style clients hold them). Reference, not a goal: the
 * same number of idle SSE connections held by a bare node:http server — the part any SSE
 * server pays for the socket alone — and by a bare graphql-yoga — the part yoga itself holds.
 */

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

const THREADS = 100;

export async function measureMemory(bench: Bench): Promise<FigureResult> {
  const wanted = bench.quick ? 500 : 5000;
  // Each subscription holds a socket in this process and in the server: stay under the limit.
  const n = Math.min(wanted, Math.floor((openFilesLimit() - 500) / 100) * 100);
  const { url } = bench.threadql.ready;
  const threads = await pool(Array.from({ length: THREADS }), 20, () => createThread(url));
  const settleMs = bench.quick ? 200 : 500;
  const tq = await growth(bench.threadql, n, settleMs, (i) => openSse(url, JSON.stringify({ query: THREAD_EVENTS, variables: { t: threads[i % THREADS] } }), () => {}));
  const ref = await growth(bench.baseline, n, settleMs, () => openSse(bench.baseline.ready.idleUrl, '', () => {}, 'GET'));
  const yoga = await growth(bench.baseline, n, settleMs, () => openSse(bench.baseline.ready.yogaUrl, JSON.stringify({ query: 'subscription { idle }' }), () => {}));
  const perSub = tq.rss / n;
  return {
    rows: [
      {
        figure: '5',
        metric: `RSS growth per idle subscription (0 → ${fmtInt(n)} open)`,
        threadql: fmtKb(perSub),
        baseline: `${fmtKb(yoga.rss / n)} (bare yoga, reference)`,
        ratio: fmtRatio(perSub / (yoga.rss / n)),
        goal: '≤ 30 KB',
        check: fmtKb(perSub),
        met: perSub <= 30 * 1024,
      },
    ],
    workload: [
      (n < wanted ? `Only ${fmtInt(n)} of ${fmtInt(wanted)} subscriptions: the open files limit is ${openFilesLimit()} (raise it with \`ulimit -Hn\`). ` : '') +
        `${fmtInt(n)} \`threadEvents(threadId)\` subscriptions over SSE on ${THREADS} threads (live only, no events), opened 200 at a time; each is counted once its first bytes arrived (the subscription is registered). Measured first, on a fresh server process, after 100 subscriptions opened and closed as a warm-up. ` +
        `RSS and heap read in the server process after two forced GCs (\`--expose-gc\`), before opening and ${settleMs} ms after the last one opened.`,
      `threadql per subscription: RSS ${fmtKb(perSub)}, JS heap ${fmtKb(tq.heapUsed / n)}, external ${fmtKb(tq.external / n)}. ` +
        `References in the baseline process: a bare node:http server holding ${fmtInt(n)} idle SSE responses (headers + one comment each): RSS ${fmtKb(ref.rss / n)}, heap ${fmtKb(ref.heapUsed / n)} per connection; ` +
        `the bare graphql-yoga holding ${fmtInt(n)} idle SSE subscriptions (a resolver that never yields): RSS ${fmtKb(yoga.rss / n)}, heap ${fmtKb(yoga.heapUsed / n)} per subscription.`,
    ],
  };
}

async function growth(child: Child<unknown>, n: number, settleMs: number, open: (i: number) => SseConnection): Promise<Memory> {
  // Warm-up: code paths compiled and lazily built caches filled are not per-subscription memory.
  const warm = await pool(Array.from({ length: 100 }), 100, async (_, i) => {
    const c = open(i);
    await c.ready;
    return c;
  });
  for (const c of warm) c.close();
  await sleep(settleMs);
  const before = await child.call<Memory>('memory');
  const connections = await pool(Array.from({ length: n }), 200, async (_, i) => {
    const c = open(i);
    await c.ready;
    return c;
  });
  await sleep(settleMs);
  const after = await child.call<Memory>('memory');
  for (const c of connections) c.close();
  await sleep(settleMs);
  return { rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed, external: after.external - before.external };
}
