import autocannon, { type Options, type Result } from 'autocannon';
import { performance } from 'node:perf_hooks';
import type { Child } from './children.js';
import { JSON_HEADERS } from './clients.js';
import { MESSAGES_LAST_20, conversation, createThread, profiled, type Bench, type FigureResult } from './context.js';
import { fmtInt, fmtMs, fmtRatio } from './stats.js';

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
const rate = (r: Rate) => r.ok / r.seconds;

async function cannon(server: Child<unknown>, options: Options): Promise<Rate> {
  const cpu0 = await server.call<number>('cpu');
  const r: Result = await autocannon({ method: 'POST', headers: JSON_HEADERS, timeout: 30, ...options });
  const cpuMs = (await server.call<number>('cpu')) - cpu0;
  const ok = r['2xx'] - r.mismatches;
  return { ok, seconds: r.duration, failed: r.non2xx + r.errors + r.mismatches, latencyP50: r.latency.p50, latencyP99: r.latency.p99, cpuMs };
}

/** Server CPU per successful request, in microseconds: robust to the machine's other load. */
const cpuPerRequest = (r: Rate) => `${Math.round((r.cpuMs * 1000) / Math.max(1, r.ok))} µs`;

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

/** Warm both, then A B A B; returns the summed halves. */
async function alternate(name: string, bench: Bench, tq: (s: number) => Promise<Rate>, base: (s: number) => Promise<Rate>, seconds: number) {
  // autocannon counts whole seconds; --quick skips the warm-up.
  if (!bench.quick) {
    await base(1);
    await tq(1);
  }
  const half = seconds / 2;
  const b1 = await base(half);
  const t1 = await profiled(bench, `${name}-1`, () => tq(half));
  const b2 = await base(half);
  const t2 = await profiled(bench, `${name}-2`, () => tq(half));
  return { tq: sum(t1, t2), base: sum(b1, b2) };
}

const CONNECTIONS_3 = 32;

export async function measureQueryThroughput(bench: Bench): Promise<FigureResult> {
  const { url } = bench.threadql.ready;
  const threadId = await createThread(url, conversation(40));
  const threadBody = JSON.stringify({ query: MESSAGES_LAST_20, variables: { id: threadId } });
  const helloBody = JSON.stringify({ query: '{ hello }' });
  const seconds = bench.quick ? 2 : 10;
  const { tq, base } = await alternate(
    'messages-last-20',
    bench,
    (duration) =>
      cannon(bench.threadql, { url, body: threadBody, connections: CONNECTIONS_3, duration, verifyBody: (b) => b.includes('"edges"') && !b.includes('"errors"') }),
    (duration) =>
      cannon(bench.baseline, { url: bench.baseline.ready.yogaUrl, body: helloBody, connections: CONNECTIONS_3, duration, verifyBody: (b) => b.includes('"world"') }),
    seconds,
  );
  const ratio = rate(tq) / rate(base);
  return {
    rows: [
      {
        figure: '3',
        metric: '`thread(id) { messages(last: 20) … }` requests/s (vs `{ hello }`)',
        threadql: `${fmtInt(rate(tq))}/s`,
        baseline: `${fmtInt(rate(base))}/s`,
        ratio: fmtRatio(ratio),
        goal: '≥ 0.5×',
        check: fmtRatio(ratio),
        met: ratio >= 0.5 && tq.failed === 0,
      },
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
  const { url } = bench.threadql.ready;
  bench.provider.shape = { chunks: 5, paceMs: 0 };
  const seconds = bench.quick ? 2 : 10;
  const { tq, base } = await alternate(
    'runs',
    bench,
    (duration) =>
      cannon(bench.threadql, { url, body: CREATE_AND_WAIT, connections: CLIENTS_4, duration, verifyBody: (b) => b.includes('"status":"COMPLETED"') }),
    (duration) => sdkCalls(bench, CLIENTS_4, duration),
    seconds,
  );
  const ratio = rate(tq) / rate(base);
  return {
    rows: [
      {
        figure: '4',
        metric: `completed runs/s (5-token replies, instant provider, ${CLIENTS_4} clients) vs direct SDK calls/s`,
        threadql: `${fmtInt(rate(tq))}/s`,
        baseline: `${fmtInt(rate(base))}/s`,
        ratio: fmtRatio(ratio),
        goal: '≥ 0.5×',
        check: fmtRatio(ratio),
        met: ratio >= 0.5 && tq.failed === 0,
      },
    ],
    workload: [
      `${CLIENTS_4} concurrent clients, ${seconds} s per side (two alternating halves${bench.quick ? '' : ', after 1 s of warm-up each'}); the provider streams 5 deltas at once (no pacing).`,
      'threadql (autocannon): each request is `createThread(input: { messages: [one USER message] }) { run { id } reply { status content } }`, ' +
        'which answers when the run has ended; counted when `reply.status` is COMPLETED. A run = thread + user message + run row, the provider call, ' +
        'the streamed reply stored and published, the run finished.',
      `Baseline: ${CLIENTS_4} loops in the bench process, each \`openai\` SDK \`responses.create({ stream: true })\` read to the end, one at a time.`,
      `threadql: ${fmtInt(tq.ok)} runs completed, ${tq.failed} failed; latency p50/p99 ${fmtMs(tq.latencyP50)}/${fmtMs(tq.latencyP99)}; CPU in the threadql process ${cpuPerRequest(tq)} per run. ` +
        `Baseline: ${fmtInt(base.ok)} calls, ${base.failed} failed (its CPU is shared with the provider in the bench process).`,
    ],
  };
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
  latencies.sort((a, b) => a - b);
  return { cpuMs: NaN, ok, seconds: (performance.now() - begin) / 1000, failed, latencyP50: latencies[Math.floor(latencies.length / 2)] ?? NaN, latencyP99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
}
