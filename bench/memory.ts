import { openFilesLimit, startChild, type Child } from './children.js';
import { openSse, openWsSubscription, pool, sleep } from './clients.js';
import { THREAD_EVENTS, createThread, row, type Bench, type FigureResult } from './context.js';
import { atMost, fmtInt, fmtKb, fmtRatioOf, per } from './stats.js';

/**
 * Figure 5: memory per idle subscription. The server process's RSS (after forced GCs) with no
 * subscription, then with N idle `threadEvents` subscriptions over SSE (each its own HTTP/1.1
 * connection, as browsers' EventSource-style clients hold them). Reference, not a goal: the
 * same number of idle SSE connections held by a bare node:http server — the part any SSE
 * server pays for the socket alone — and by a bare graphql-yoga — the part yoga itself holds.
 * Reported beside it: the same measurement with the subscriptions over WebSocket (graphql-ws,
 * one socket each), counted as open once threadql's own subscription gauge shows them all.
 */

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

const THREADS = 100;
/**
 * Fewer subscriptions than this fit in pages the process already holds (quick mode's 500 grew
 * RSS by about 1 KB each while the heap grew 20+ KB each): RSS growth then measures nothing.
 */
const MIN_FOR_RSS = 2000;

export async function measureMemory(bench: Bench): Promise<FigureResult> {
  const wanted = bench.quick ? 500 : 5000;
  // Each subscription holds a socket in this process and in the server: stay under the limit.
  const n = Math.min(wanted, Math.floor((openFilesLimit() - 500) / 100) * 100);
  const { url } = bench.threadql.ready;
  const threads = await pool(Array.from({ length: THREADS }), 20, () => createThread(url));
  const settleMs = bench.quick ? 200 : 500;
  // Counted only once threadql's gauge holds all n: an SSE stream that opens and is then refused
  // (a cap, an error) sends its first bytes too.
  const sse = await growth(
    bench.threadql,
    n,
    settleMs,
    (i) => openSse(url, JSON.stringify({ query: THREAD_EVENTS, variables: { t: threads[i % THREADS] } }), () => {}),
    (open) => subscriptionsReach(bench.threadql, 'sse', open),
  );
  // A second, fresh threadql child (its own SQLite file): after the SSE round the first one's
  // allocator holds freed pages the WebSocket round would reuse, and its RSS would hardly grow.
  const wsChild = await startChild<{ url: string }>('./threadql-child.ts', { ...bench.threadqlEnv, DATABASE_URL: `${bench.threadqlEnv.DATABASE_URL}.ws.db` });
  let ws: Awaited<ReturnType<typeof growth>>;
  try {
    const wsUrl = wsChild.ready.url;
    const wsThreads = await pool(Array.from({ length: THREADS }), 20, () => createThread(wsUrl));
    ws = await growth(
      wsChild,
      n,
      settleMs,
      (i) => openWsSubscription(wsUrl, THREAD_EVENTS, { t: wsThreads[i % THREADS] }),
      (open) => subscriptionsReach(wsChild, 'websocket', open),
    );
  } finally {
    await wsChild.stop();
  }
  const ref = await growth(bench.baseline, n, settleMs, () => openSse(bench.baseline.ready.idleUrl, '', () => {}, 'GET'));
  const yoga = await growth(bench.baseline, n, settleMs, () => openSse(bench.baseline.ready.yogaUrl, JSON.stringify({ query: 'subscription { idle }' }), () => {}));
  const perSse = per(sse.rss, n);
  const perWs = per(ws.rss, n);
  const perYoga = per(yoga.rss, n);
  const tooFew =
    n < MIN_FOR_RSS
      ? `only ${fmtInt(n)} subscriptions (${n < wanted ? `the open files limit is ${openFilesLimit()}` : 'quick mode'}); RSS growth needs ≥ ${fmtInt(MIN_FOR_RSS)} to rise above the pages the process already holds`
      : undefined;
  // RSS that fell while n subscriptions opened is the allocator returning pages, not their cost:
  // the growth is below what one reading of RSS can tell apart.
  const shrank = (m: Memory) =>
    m.rss < 0 ? `RSS fell by ${fmtKb(-m.rss)} while ${fmtInt(n)} opened (heap +${fmtKb(m.heapUsed)}): the growth is below RSS's noise${bench.quick ? ' at quick mode\'s count' : ''}` : undefined;
  return {
    rows: [
      row({
        figure: '5',
        metric: `RSS growth per idle subscription over SSE (0 → ${fmtInt(n)} open)`,
        threadql: fmtKb(perSse),
        baseline: `${fmtKb(perYoga)} (bare yoga, reference)`,
        ratio: fmtRatioOf(perSse, perYoga),
        goal: atMost(30 * 1024, '≤ 30 KB'),
        value: perSse,
        format: fmtKb,
        notMeasured: tooFew ?? sse.missing ?? shrank(sse),
        columnsFromValue: true,
      }),
      row({
        figure: '5',
        metric: `RSS growth per idle subscription over WebSocket (graphql-ws, 0 → ${fmtInt(n)} open)`,
        threadql: fmtKb(perWs),
        baseline: `${fmtKb(perSse)} (SSE, row above)`,
        ratio: fmtRatioOf(perWs, perSse),
        goal: null,
        value: perWs,
        format: fmtKb,
        notMeasured: tooFew ?? ws.missing ?? shrank(ws),
        columnsFromValue: true,
      }),
    ],
    workload: [
      (n < wanted ? `Only ${fmtInt(n)} of ${fmtInt(wanted)} subscriptions: the open files limit is ${openFilesLimit()} (raise it with \`ulimit -Hn\`). ` : '') +
        `${fmtInt(n)} \`threadEvents(threadId)\` subscriptions over SSE on ${THREADS} threads (live only, no events), opened 200 at a time; each is counted once its first bytes arrived and threadql's open-subscriptions gauge holds all of them (MAX_SUBSCRIPTIONS_PER_OWNER is raised above the 1,000 default: open mode is one caller). Measured first, on a fresh server process, after 100 subscriptions opened and closed as a warm-up. ` +
        `RSS and heap read in the server process after two forced GCs (\`--expose-gc\`), before opening and ${settleMs} ms after the last one opened.`,
      `WebSocket: on a second fresh threadql child (same environment, its own SQLite file), the same ${fmtInt(n)} subscriptions on ${THREADS} threads, each its own socket (graphql-transport-ws: connection_init, acknowledged, then subscribe), opened 200 at a time after the same warm-up; the "after" reading waits until threadql's open-subscriptions gauge counts all of them (the server sends nothing when one is registered).`,
      `threadql per subscription over SSE: RSS ${fmtKb(perSse)}, JS heap ${fmtKb(per(sse.heapUsed, n))}, external ${fmtKb(per(sse.external, n))}; over WebSocket: RSS ${fmtKb(perWs)}, JS heap ${fmtKb(per(ws.heapUsed, n))}, external ${fmtKb(per(ws.external, n))}. ` +
        `References in the baseline process: a bare node:http server holding ${fmtInt(n)} idle SSE responses (headers + one comment each): RSS ${fmtKb(per(ref.rss, n))}, heap ${fmtKb(per(ref.heapUsed, n))} per connection; ` +
        `the bare graphql-yoga holding ${fmtInt(n)} idle SSE subscriptions (a resolver that never yields): RSS ${fmtKb(perYoga)}, heap ${fmtKb(per(yoga.heapUsed, n))} per subscription.`,
    ],
  };
}

/** Waits until threadql's gauge shows `count` open subscriptions over `transport`; why not, after 30 s. */
async function subscriptionsReach(child: Child<unknown>, transport: 'sse' | 'websocket', count: number): Promise<string | undefined> {
  const deadline = Date.now() + 30_000;
  let open = 0;
  while (Date.now() < deadline) {
    open = (await child.call<Record<string, number>>('openSubscriptions'))[transport] ?? 0;
    if (open === count) return undefined;
    await sleep(50);
  }
  return `${open} ${transport} subscriptions open after 30 s, not ${count}`;
}

interface Closable {
  ready: Promise<void>;
  close(): void;
}

/**
 * RSS, heap and external growth of `child` from no connection to `n` idle ones. `registered`
 * waits, after the connections are ready, until the server holds them all (undefined when it
 * does; otherwise why the reading is not of `n`, and the growth is not reported).
 */
async function growth(
  child: Child<unknown>,
  n: number,
  settleMs: number,
  open: (i: number) => Closable,
  registered: (count: number) => Promise<string | undefined> = async () => undefined,
): Promise<Memory & { missing?: string }> {
  // Warm-up: code paths compiled and lazily built caches filled are not per-subscription memory.
  const warm = await pool(Array.from({ length: 100 }), 100, async (_, i) => {
    const c = open(i);
    await c.ready;
    return c;
  });
  const warmMissing = await registered(warm.length);
  for (const c of warm) c.close();
  await sleep(settleMs);
  // The warm-up's subscriptions ended on the server too, so the baseline reading holds none of them.
  await registered(0);
  const before = await child.call<Memory>('memory');
  const connections = await pool(Array.from({ length: n }), 200, async (_, i) => {
    const c = open(i);
    await c.ready;
    return c;
  });
  const missing = warmMissing ?? (await registered(n));
  await sleep(settleMs);
  const after = await child.call<Memory>('memory');
  for (const c of connections) c.close();
  await sleep(settleMs);
  if (missing) return { rss: NaN, heapUsed: NaN, external: NaN, missing };
  return { rss: after.rss - before.rss, heapUsed: after.heapUsed - before.heapUsed, external: after.external - before.external };
}
