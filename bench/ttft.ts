import { profiled, row, type Bench, type FigureResult, type Row } from './context.js';
import { atMost, fmtAdded, fmtMs, fmtRatioOf, mean, per, tooFewSamples } from './stats.js';
import { analyse, merge, newKeys, p, recordWrites, relayRound, sdkRound, ThreadqlClients, type StreamStats } from './streams.js';

/**
 * Figures 1 and 2: what threadql adds to the first token and to the gaps between tokens,
 * compared with the openai SDK reading the same provider directly (and, as a second reference,
 * with the bare SSE relay: the same hop between processes without threadql's work). Rounds
 * alternate between the paths so a change in the machine's load hits all alike.
 */

const CHUNKS = 6;
const PACE_MS = 10;

export async function measureTtft(bench: Bench): Promise<FigureResult> {
  bench.provider.shape = { chunks: CHUNKS, paceMs: PACE_MS };
  const one = await compare(bench, 1, bench.quick ? 15 : 100);
  const fifty = await compare(bench, 50, bench.quick ? 2 : 6);

  const rows: Row[] = [];
  const ttftRow = (label: string, s: Comparison, pct: number, goalMs: number | null): Row => {
    const tq = p(s.tq.ttft, pct);
    const base = p(s.sdk.ttft, pct);
    return row({
      figure: '1',
      metric: `time to first token, p${pct}, ${label}`,
      threadql: fmtMs(tq),
      baseline: fmtMs(base),
      ratio: fmtRatioOf(tq, base),
      goal: goalMs === null ? null : atMost(goalMs, `added ≤ ${goalMs} ms`),
      value: tq - base,
      format: fmtAdded,
      notMeasured: tooFewSamples(Math.min(s.tq.ttft.length, s.sdk.ttft.length), pct),
      columnsFromValue: true,
    });
  };
  const gapRow = (label: string, s: Comparison, goalMs: number | null): Row => {
    const tq = p(s.tq.gapExcess, 99);
    const base = p(s.sdk.gapExcess, 99);
    return row({
      figure: '2',
      metric: `gap between chunks beyond the provider's gap, p99, ${label}`,
      threadql: fmtMs(tq),
      baseline: fmtMs(base),
      ratio: fmtRatioOf(tq, base),
      goal: goalMs === null ? null : atMost(goalMs, `added ≤ ${goalMs} ms`),
      value: tq - base,
      format: fmtAdded,
      notMeasured: tooFewSamples(Math.min(s.tq.gapExcess.length, s.sdk.gapExcess.length), 99),
      columnsFromValue: true,
    });
  };
  rows.push(
    ttftRow('1 run', one, 50, 1),
    ttftRow('1 run', one, 99, 4),
    ttftRow('50 concurrent runs', fifty, 50, 20),
    ttftRow('50 concurrent runs', fifty, 99, null),
  );
  rows.push(gapRow('1 run', one, 2), gapRow('50 concurrent runs', fifty, null));

  return {
    rows,
    workload: [
      `Replies of ${CHUNKS} deltas, ${PACE_MS} ms apart, the first ${PACE_MS} ms after the provider's response starts (a model thinks before its first token too; without it the first token would race the run's own start-up writes, which no real provider does) (Responses API). threadql: one \`threadEvents\` SSE subscription per thread held open, then \`sendMessage\`; time from the provider writing delta 0 to the client receiving the first \`MessageDeltaEvent\`. Baseline: \`openai\` SDK \`responses.create({ stream: true })\` straight to the provider; time to its first \`response.output_text.delta\` event.`,
      `1 run: ${one.tq.streams} sequential runs on each path; 50 concurrent runs: ${fifty.tq.streams / 50} rounds of 50 at once on each path; rounds alternate between the paths, after warm-up rounds.`,
      'Figure 2: for each delta after the first, (client gap to the previous delta) − (provider gap between writing them); p99 over all deltas. Samples: ' +
        `${one.tq.gapExcess.length} (1 run), ${fifty.tq.gapExcess.length} (50 runs) per path. Added = threadql − baseline.`,
    ],
    notes: [
      `threadql's CPU time per run (process.cpuUsage in the threadql process, whole rounds: the sendMessage request, the run, its ${CHUNKS} deltas stored and published to one subscriber): ` +
        `${fmtMs(one.cpuPerRun)} at 1 run, ${fmtMs(fifty.cpuPerRun)} at 50 concurrent runs. 50 runs started at once queue behind each other's start-up work, which is what the 50-run first token measures.`,
      `Second reference, the bare node:http SSE relay (bench/baseline-child.ts: the same SDK stream, one process hop like threadql's, no GraphQL, no database), measured in the same alternating rounds: ` +
        `first token p50/p99 ${fmtMs(p(one.relay.ttft, 50))}/${fmtMs(p(one.relay.ttft, 99))} at 1 run, ${fmtMs(p(fifty.relay.ttft, 50))}/${fmtMs(p(fifty.relay.ttft, 99))} at 50; ` +
        `gap beyond the provider's p99 ${fmtMs(p(one.relay.gapExcess, 99))} at 1 run, ${fmtMs(p(fifty.relay.gapExcess, 99))} at 50. What the relay adds over the SDK is the hop between processes (and this shared machine's scheduling); what threadql adds over the relay is its own work.`,
      `Mean client-side gap at 1 run: threadql ${fmtMs(mean(one.tq.gaps))}, SDK ${fmtMs(mean(one.sdk.gaps))} (provider pacing ${PACE_MS} ms + timer slack).`,
    ],
  };
}

interface Comparison {
  tq: StreamStats;
  sdk: StreamStats;
  relay: StreamStats;
  cpuPerRun: number;
}

async function compare(bench: Bench, concurrency: number, rounds: number): Promise<Comparison> {
  const clients = await ThreadqlClients.open(bench, concurrency);
  const writes = recordWrites(bench);
  for (let i = 0; i < (bench.quick ? 1 : 3); i++) {
    await sdkRound(bench, newKeys(concurrency, 'warm'));
    await relayRound(bench, newKeys(concurrency, 'warm'));
    await clients.round(bench, newKeys(concurrency, 'warm'));
  }
  const tq: StreamStats[] = [];
  const sdk: StreamStats[] = [];
  const relay: StreamStats[] = [];
  let cpuMs = 0;
  await profiled(bench, `ttft-${concurrency}`, async () => {
    for (let r = 0; r < rounds; r++) {
      sdk.push(analyse(await sdkRound(bench, newKeys(concurrency, 'sdk')), writes, CHUNKS));
      relay.push(analyse(await relayRound(bench, newKeys(concurrency, 'relay')), writes, CHUNKS));
      const cpu0 = await bench.threadql.call<number>('cpu');
      tq.push(analyse(await clients.round(bench, newKeys(concurrency, 'tq')), writes, CHUNKS));
      cpuMs += (await bench.threadql.call<number>('cpu')) - cpu0;
      writes.clear();
    }
  });
  clients.close();
  bench.provider.onChunk = null;
  return { tq: merge(tq), sdk: merge(sdk), relay: merge(relay), cpuPerRun: per(cpuMs, rounds * concurrency) };
}
