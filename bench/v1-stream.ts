import OpenAI from 'openai';
import { performance } from 'node:perf_hooks';
import { profiled, row, type Bench, type FigureResult } from './context.js';
import { atMost, fmtAdded, fmtMs, fmtRatioOf, tooFewSamples } from './stats.js';
import { analyse, merge, newKeys, p, recordWrites, ThreadqlClients, type Arrivals, type StreamStats } from './streams.js';

/**
 * Figure 9: the Assistants API surface (/v1). Time from the provider writing a reply's first
 * delta to the first `thread.message.delta` the openai SDK's `runs.stream` yields, against the
 * GraphQL path (a held `threadEvents` SSE subscription, then `sendMessage`) for the same kind
 * of run, in alternating rounds.
 */

const CHUNKS = 6;
const PACE_MS = 10;

export async function measureV1Stream(bench: Bench): Promise<FigureResult> {
  bench.provider.shape = { chunks: CHUNKS, paceMs: PACE_MS };
  // 100: a p99 of fewer samples would only be their maximum.
  const rounds = bench.quick ? 10 : 100;
  const base = bench.threadql.ready.url.replace(/\/graphql$/, '/v1');
  const client = new OpenAI({ baseURL: base, apiKey: 'sk-bench-open-mode', maxRetries: 0 });
  const assistant = await client.beta.assistants.create({ model: 'bench-model', name: 'bench' });
  const thread = await client.beta.threads.create();
  const gqlClients = await ThreadqlClients.open(bench, 1);
  const writes = recordWrites(bench);

  const restRound = async (key: string): Promise<Arrivals> => {
    const arrivals: number[] = [];
    const stream = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id, additional_messages: [{ role: 'user', content: key }] });
    for await (const event of stream) if (event.event === 'thread.message.delta') arrivals.push(performance.now());
    return new Map([[key, arrivals]]);
  };

  for (let i = 0; i < 3; i++) {
    await restRound(newKeys(1, 'warm')[0]!);
    await gqlClients.round(bench, newKeys(1, 'warm'));
  }
  const rest: StreamStats[] = [];
  const gql: StreamStats[] = [];
  await profiled(bench, 'v1-stream', async () => {
    for (let r = 0; r < rounds; r++) {
      rest.push(analyse(await restRound(newKeys(1, 'v1')[0]!), writes, CHUNKS));
      gql.push(analyse(await gqlClients.round(bench, newKeys(1, 'gql')), writes, CHUNKS));
      writes.clear();
    }
  });
  gqlClients.close();
  bench.provider.onChunk = null;
  const v1 = merge(rest);
  const graphql = merge(gql);
  const ttftRow = (pct: number, goalMs: number | null) => {
    const a = p(v1.ttft, pct);
    const b = p(graphql.ttft, pct);
    return row({
      figure: '9',
      metric: `time to first thread.message.delta via the SDK's runs.stream, p${pct}, 1 run (baseline: GraphQL threadEvents)`,
      threadql: fmtMs(a),
      baseline: fmtMs(b),
      ratio: fmtRatioOf(a, b),
      goal: goalMs === null ? null : atMost(goalMs, `added ≤ ${goalMs} ms`),
      value: a - b,
      format: fmtAdded,
      notMeasured: tooFewSamples(Math.min(v1.ttft.length, graphql.ttft.length), pct),
      columnsFromValue: true,
    });
  };
  return {
    rows: [ttftRow(50, 1), ttftRow(99, null)],
    workload: [
      `Replies of ${CHUNKS} deltas, ${PACE_MS} ms apart (Responses API). /v1: the openai SDK's \`beta.threads.runs.stream\` with the user message as \`additional_messages\` on one thread (the request creates the run and streams it); GraphQL: one \`threadEvents\` SSE subscription held open on another thread, then \`sendMessage\`. Time from the provider writing delta 0 to the client receiving the first delta event.`,
      `${rounds} sequential runs on each path, alternating, after 3 warm-up rounds each.`,
    ],
    notes: [
      `Deltas delivered: /v1 ${v1.delivered}/${v1.expected}, GraphQL ${graphql.delivered}/${graphql.expected}. The /v1 figure includes the SDK's own SSE decoding and AssistantStream's bookkeeping (snapshots per event).`,
    ],
  };
}
