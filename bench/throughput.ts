import autocannon, { type Options, type Result } from 'autocannon';
import { performance } from 'node:perf_hooks';
import { startChild, type Child } from './children.js';
import { JSON_HEADERS } from './clients.js';
import { createBenchDatabase, postgresAdminUrl, type BenchDatabase } from './cluster-processes.js';
import { MESSAGES_LAST_20, conversation, createThread, profiled, row, type Bench, type FigureResult, type Row } from './context.js';
import { atLeast, fmtInt, fmtMs, fmtPerSecond, fmtRatio, fmtRatioOf, fmtUs, per, percentile, ratio } from './stats.js';

/**
 * Figures 3 and 4: requests per second under load from autocannon (run in this process, one
 * connection per concurrent client, no pipelining). Each side runs in two halves, alternating
 * threadql and baseline, after a warm-up: a shift in the machine's load hits both alike.
 */

interface Rate {
  ok: number;
  seconds: number;
  failed: number;
  latencyP50: number;
  latencyP99: number;
  /** CPU time the server process used meanwhile (ms); NaN when the baseline has no server. */
  cpuMs: number;
}
/** Successful requests per second; none finished at all (neither correct nor failed) is no measurement, not 0/s. */
const rate = (r: Rate) => (r.ok + r.failed > 0 ? per(r.ok, r.seconds) : NaN);

async function cannon(server: Child<unknown>, options: Options): Promise<Rate> {
  const cpu0 = await server.call<number>('cpu');
  const r: Result = await autocannon({ method: 'POST', headers: JSON_HEADERS, timeout: 30, ...options });
  const cpuMs = (await server.call<number>('cpu')) - cpu0;
  const ok = r['2xx'] - r.mismatches;
  return { ok, seconds: r.duration, failed: r.non2xx + r.errors + r.mismatches, latencyP50: ok > 0 ? r.latency.p50 : NaN, latencyP99: ok > 0 ? r.latency.p99 : NaN, cpuMs };
}

/** Server CPU per successful request, in microseconds: robust to the machine's other load. */
const cpuPerRequest = (r: Rate) => fmtUs(per(r.cpuMs, r.ok));

function sum(a: Rate, b: Rate): Rate {
  return {
    ok: a.ok + b.ok,
    seconds: a.seconds + b.seconds,
    failed: a.failed + b.failed,
    latencyP50: (a.latencyP50 + b.latencyP50) / 2,
    latencyP99: Math.max(a.latencyP99, b.latencyP99),
    cpuMs: a.cpuMs + b.cpuMs,
  };
}

/**
 * Warm every side, then two alternating halves (base, then each other side in turn); returns
 * each side's summed halves. Only the side named `tq` (threadql's main child) is profiled.
 */
async function alternate<K extends string>(name: string, bench: Bench, sides: Record<K, (s: number) => Promise<Rate>>, seconds: number): Promise<Record<K, Rate>> {
  const order = Object.keys(sides) as K[];
  const halves = new Map<K, Rate[]>(order.map((k) => [k, []]));
  // autocannon counts whole seconds; --quick skips the warm-up.
  if (!bench.quick) for (const k of order) await sides[k](1);
  const half = seconds / 2;
  for (let h = 1; h <= 2; h++) {
    for (const k of order) {
      const measure = () => sides[k](half);
      halves.get(k)!.push(await (k === 'tq' ? profiled(bench, `${name}-${h}`, measure) : measure()));
    }
  }
  return Object.fromEntries(order.map((k) => [k, sum(halves.get(k)![0]!, halves.get(k)![1]!)])) as Record<K, Rate>;
}

const CONNECTIONS_3 = 32;

export async function measureQueryThroughput(bench: Bench): Promise<FigureResult> {
  const { url } = bench.threadql.ready;
  const threadId = await createThread(url, conversation(40));
  const threadBody = JSON.stringify({ query: MESSAGES_LAST_20, variables: { id: threadId } });
  const helloBody = JSON.stringify({ query: '{ hello }' });
  const seconds = bench.quick ? 2 : 10;
  const { base, tq } = await alternate(
    'messages-last-20',
    bench,
    {
      base: (duration) =>
        cannon(bench.baseline, { url: bench.baseline.ready.yogaUrl, body: helloBody, connections: CONNECTIONS_3, duration, verifyBody: (b) => b.includes('"world"') }),
      tq: (duration) =>
        cannon(bench.threadql, { url, body: threadBody, connections: CONNECTIONS_3, duration, verifyBody: (b) => b.includes('"edges"') && !b.includes('"errors"') }),
    },
    seconds,
  );
  const byRatio = ratio(rate(tq), rate(base));
  return {
    rows: [
      row({
        figure: '3',
        metric: '`thread(id) { messages(last: 20) … }` requests/s (vs `{ hello }`)',
        threadql: fmtPerSecond(rate(tq)),
        baseline: fmtPerSecond(rate(base)),
        ratio: fmtRatio(byRatio),
        goal: atLeast(0.6, '≥ 0.6×'),
        value: byRatio,
        format: fmtRatio,
        alsoRequired: tq.failed === 0,
      }),
    ],
    workload: [
      `autocannon, ${CONNECTIONS_3} connections, POST JSON, ${seconds} s per side (two alternating halves${bench.quick ? '' : ', after 1 s of warm-up each'}). ` +
        `threadql: \`thread(id) { messages(last: 20) { edges { node { id role content } } } }\` on a thread of 40 messages (~50 characters each). Baseline: bare graphql-yoga \`{ hello }\`.`,
      `Responses checked: threadql ${fmtInt(tq.ok)} correct, ${tq.failed} failed; baseline ${fmtInt(base.ok)} correct, ${base.failed} failed. ` +
        `Latency p50/p99: threadql ${fmtMs(tq.latencyP50)}/${fmtMs(tq.latencyP99)}, baseline ${fmtMs(base.latencyP50)}/${fmtMs(base.latencyP99)} (autocannon, 1 ms resolution). ` +
        `Server CPU per request: threadql ${cpuPerRequest(tq)}, bare yoga ${cpuPerRequest(base)}.`,
    ],
  };
}

const CLIENTS_4 = 20;
const CREATE_AND_WAIT = JSON.stringify({
  query: 'mutation { createThread(input: { messages: [{ role: USER, content: "Say hello in five words." }] }) { run { id } reply { status content } } }',
});

export async function measureRunThroughput(bench: Bench): Promise<FigureResult> {
  bench.provider.shape = { chunks: 5, paceMs: 0 };
  const seconds = bench.quick ? 2 : 10;
  const runs = (child: Child<{ url: string }>) => (duration: number) =>
    cannon(child, { url: child.ready.url, body: CREATE_AND_WAIT, connections: CLIENTS_4, duration, verifyBody: (b) => b.includes('"status":"COMPLETED"') });
  const sdk = (duration: number) => sdkCalls(bench, CLIENTS_4, duration);

  // The same workload on a second threadql child on a fresh PostgreSQL database, measured in the same alternation.
  const postgres = await startPostgresChild(bench);
  let measured: { base: Rate; tq: Rate; pg?: Rate };
  try {
    measured = postgres.child
      ? await alternate('runs', bench, { base: sdk, tq: runs(bench.threadql), pg: runs(postgres.child) }, seconds)
      : await alternate('runs', bench, { base: sdk, tq: runs(bench.threadql) }, seconds);
  } finally {
    await postgres.child?.stop();
    await postgres.database?.drop();
  }
  const { base, tq, pg } = measured;
  const sqliteRatio = ratio(rate(tq), rate(base));
  const rows: Row[] = [
    row({
      figure: '4',
      metric: `completed runs/s on SQLite (5-token replies, instant provider, ${CLIENTS_4} clients) vs direct SDK calls/s`,
      threadql: fmtPerSecond(rate(tq)),
      baseline: fmtPerSecond(rate(base)),
      ratio: fmtRatio(sqliteRatio),
      goal: atLeast(0.5, '≥ 0.5×'),
      value: sqliteRatio,
      format: fmtRatio,
      alsoRequired: tq.failed === 0,
    }),
    postgresRow(pg, base, postgres.why),
  ];
  return {
    rows,
    workload: [
      `${CLIENTS_4} concurrent clients, ${seconds} s per side (two alternating halves${bench.quick ? '' : ', after 1 s of warm-up each'}); the provider streams 5 deltas at once (no pacing).`,
      'threadql (autocannon): each request is `createThread(input: { messages: [one USER message] }) { run { id } reply { status content } }`, ' +
        'which answers when the run has ended; counted when `reply.status` is COMPLETED. A run = thread + user message + run row, the provider call, ' +
        'the streamed reply stored and published, the run finished.',
      `Baseline: ${CLIENTS_4} loops in the bench process, each \`openai\` SDK \`responses.create({ stream: true })\` read to the end, one at a time.`,
      `threadql on SQLite: ${fmtInt(tq.ok)} runs completed, ${tq.failed} failed; latency p50/p99 ${fmtMs(tq.latencyP50)}/${fmtMs(tq.latencyP99)}; CPU in the threadql process ${cpuPerRequest(tq)} per run. ` +
        `Baseline: ${fmtInt(base.ok)} calls, ${base.failed} failed (its CPU is shared with the provider in the bench process).`,
      pg
        ? `threadql on PostgreSQL: a second threadql child (the same environment, DATABASE_URL a fresh database on ${redactedAdmin()}, created for the figure and dropped after), measured as a third side of the same alternation: ` +
          `${fmtInt(pg.ok)} runs completed, ${pg.failed} failed; latency p50/p99 ${fmtMs(pg.latencyP50)}/${fmtMs(pg.latencyP99)}; CPU in its threadql process ${cpuPerRequest(pg)} per run (PostgreSQL's own processes not included).`
        : `threadql on PostgreSQL: not measured (${postgres.why}).`,
    ],
  };
}

function postgresRow(pg: Rate | undefined, base: Rate, why: string | undefined): Row {
  const notMeasured = !pg ? why : pg.ok + pg.failed === 0 ? `no run finished within the ${fmtInt(pg.seconds)} s measured` : undefined;
  return row({
    figure: '4',
    metric: `completed runs/s on PostgreSQL, the same workload vs the same direct SDK calls/s`,
    threadql: pg && !notMeasured ? fmtPerSecond(rate(pg)) + (pg.failed ? ` (${pg.failed} failed)` : '') : '—',
    baseline: fmtPerSecond(rate(base)),
    ratio: pg && !notMeasured ? fmtRatioOf(rate(pg), rate(base)) : '—',
    goal: null,
    value: pg ? ratio(rate(pg), rate(base)) : NaN,
    format: fmtRatio,
    notMeasured,
  });
}

const redactedAdmin = () => {
  const u = new URL(postgresAdminUrl());
  u.password = '';
  u.pathname = '';
  return u.toString().replace(/\/$/, '');
};

/** A threadql child on a fresh PostgreSQL database, or why there is none. */
async function startPostgresChild(bench: Bench): Promise<{ child?: Child<{ url: string }>; database?: BenchDatabase; why?: string }> {
  let database: BenchDatabase;
  try {
    database = await createBenchDatabase('runs');
  } catch (error) {
    const detail = error instanceof Error ? (error.message.split('\n').find((l) => /error|could not|refused/i.test(l)) ?? '').trim() : '';
    return { why: `PostgreSQL unreachable at ${redactedAdmin()}${detail ? ` (${detail.slice(0, 120)})` : ''}` };
  }
  try {
    const child = await startChild<{ url: string }>('./threadql-child.ts', { ...bench.threadqlEnv, DATABASE_URL: database.url });
    return { child, database };
  } catch (error) {
    await database.drop();
    return { why: `the PostgreSQL child did not start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}` };
  }
}

/** `clients` loops of streamed SDK calls for `seconds`. */
async function sdkCalls(bench: Bench, clients: number, seconds: number): Promise<Rate> {
  const begin = performance.now();
  const end = begin + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        try {
          const stream = await bench.sdk.responses.create({ model: 'bench', input: [{ role: 'user', content: 'Say hello in five words.' }], stream: true, store: false });
          let completed = false;
          for await (const event of stream) if (event.type === 'response.completed') completed = true;
          if (completed) ok++;
          else failed++;
        } catch {
          failed++;
        }
        latencies.push(performance.now() - start);
      }
    }),
  );
  return { cpuMs: NaN, ok, seconds: (performance.now() - begin) / 1000, failed, latencyP50: percentile(latencies, 50), latencyP99: percentile(latencies, 99) };
}
