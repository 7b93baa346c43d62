import { gql, sleep } from './clients.js';
import { createThread, profiled, row, type Bench, type FigureResult } from './context.js';
import { atMost, fmtInt, fmtMs, tooFewSamples } from './stats.js';
import { measuredRound, newKeys, p, recordWrites, steadyText, ThreadqlClients } from './streams.js';
import type { EventLoopDelay } from './child-control.js';

/**
 * Figure 7: storage must cost per flush, not per token, and must not stall the event loop.
 *  - Transactions (SQLite only): counted inside the threadql process by wrapping better-sqlite3's Statement
 *    methods (see threadql-child.ts): every BEGIN, plus every write outside a transaction.
 *  - Event-loop delay: `perf_hooks.monitorEventLoopDelay` in the threadql process during 100
 *    concurrent paced streams (and, for comparison, while idle).
 */

const SEND_AND_WAIT = /* GraphQL */ `
  mutation ($t: ID!, $c: String!) { sendMessage(input: { threadId: $t, content: $c }) { run { id } reply { status } } }`;

/**
 * Transactions every run pays whatever its length: send (which also starts the run on an idle
 * thread), first text (reply row), finish.
 */
const FIXED_TRANSACTIONS = 3;
const FLUSH_INTERVAL_MS = 100; // threadql's default FLUSH_INTERVAL_MS
const MAX_PENDING_DELTAS = 256; // src/services.ts: a flush also happens when this many deltas wait
const STREAMS = 100;
const RAMP_MS = 1000;
/** The goal: event-loop delay p99 while all STREAMS stream. */
const ELD_P99_MS = 10;

export async function measureStorage(bench: Bench): Promise<FigureResult> {
  const long = await countTransactions(bench, 1000, 1);
  const short = await countTransactions(bench, 5, 0);
  const bound = FIXED_TRANSACTIONS + Math.ceil(long.streamMs / FLUSH_INTERVAL_MS) + Math.ceil(1000 / MAX_PENDING_DELTAS);

  // Replies long enough (4 s; 2 s in --quick) for all STREAMS to stream together after the 1 s
  // ramp even when the first tokens come late on a loaded machine: without that steady part
  // the figure measures nothing.
  const chunks = bench.quick ? 100 : 200;
  const rampMs = bench.quick ? 500 : RAMP_MS;
  bench.provider.shape = { chunks, paceMs: 20 };
  const clients = await ThreadqlClients.open(bench, STREAMS);
  await bench.threadql.call('eldStart');
  await sleep(bench.quick ? 300 : 1000);
  const idle = await bench.threadql.call<EventLoopDelay>('eldStop');
  const round = await measuredRound(bench, bench.threadql, chunks, rampMs, (ramp) =>
    profiled(bench, 'streams-100', () => clients.round(bench, newKeys(STREAMS, 'eld'), ramp)),
  );
  clients.close();
  bench.provider.onChunk = null;
  // The goal is about all STREAMS streaming at once: without a steady part (a reply ended before
  // the last began) or with no sample in it, the figure did not measure it.
  const busy = round.steadyEld;
  const whole = round.eld;
  const eld = (e: EventLoopDelay) => `${fmtMs(e.p50)}/${fmtMs(e.p99)}/${fmtMs(e.max)}`;
  const steadyMissing = !round.steady
    ? `no steady part (a reply ended before the last one began${bench.quick ? '; quick mode\'s replies are short' : ''})`
    : tooFewSamples(busy.samples, 99) && `${tooFewSamples(busy.samples, 99)} of event-loop delay in the steady part (${steadyText(round)})`;

  return {
    rows: [
      row({
        figure: '7',
        metric: 'database transactions for one 1,000-token reply',
        threadql: `${long.total} (${long.explicit} BEGIN + ${long.implicit} autocommit)`,
        baseline: '—',
        ratio: '—',
        goal: atMost(bound, `bounded by flushes: ≤ ${fmtInt(bound)}`),
        value: long.total,
        format: (x) => `${fmtInt(x)} for 1,000 tokens`,
      }),
      row({
        figure: '7',
        metric: `event-loop delay p99 while ${STREAMS} streams run concurrently`,
        threadql: fmtMs(busy.p99),
        baseline: `${fmtMs(idle.p99)} (idle)`,
        ratio: '—',
        goal: atMost(ELD_P99_MS, `≤ ${ELD_P99_MS} ms`),
        value: busy.p99,
        format: fmtMs,
        notMeasured: steadyMissing,
        columnsFromValue: true,
      }),
    ],
    workload: [
      `Transactions: one \`sendMessage\` whose reply is 1,000 deltas written 1 ms apart (${fmtMs(long.streamMs)} from first to last), counted from the mutation until the run has ended. ` +
        `Bound = ${FIXED_TRANSACTIONS} per run (send and start, reply row, finish) + one flush per FLUSH_INTERVAL_MS (${FLUSH_INTERVAL_MS} ms) of streaming + one per ${MAX_PENDING_DELTAS} waiting deltas = ${fmtInt(bound)}. ` +
        `A 5-delta instant reply costs ${short.total} (${short.explicit} BEGIN + ${short.implicit} autocommit).`,
      `Event-loop delay: ${STREAMS} threads with a \`threadEvents\` subscriber each, ${STREAMS} concurrent replies of ${chunks} deltas 20 ms apart; ` +
        `the ${STREAMS} starts spread evenly over ${rampMs} ms. monitorEventLoopDelay (1 ms resolution, the interval subtracted) in the threadql process while all ${STREAMS} stream ` +
        `(every reply has its first delta, none has ended: ${steadyText(round)}). p50/p99/max: ${eld(round.steadyEld)}; ` +
        `over the whole round, ramp included: ${eld(whole)}; idle just before: ${eld(idle)}. Frame latency p99 ${fmtMs(p(round.stats.latency, 99))}, ${fmtInt(round.stats.delivered)}/${fmtInt(round.stats.expected)} frames.`,
    ],
  };
}

async function countTransactions(bench: Bench, chunks: number, paceMs: number) {
  const { url } = bench.threadql.ready;
  bench.provider.shape = { chunks, paceMs };
  const threadId = await createThread(url);
  const writes = recordWrites(bench);
  const [key] = newKeys(1, 'tx');
  await bench.threadql.call('txStart');
  const data = await gql(url, SEND_AND_WAIT, { t: threadId, c: key });
  const counts = await bench.threadql.call<{ explicit: number; implicit: number }>('txStop');
  if (data.sendMessage.reply?.status !== 'COMPLETED') throw new Error(`the ${chunks}-token run did not complete: ${JSON.stringify(data)}`);
  const w = writes.get(key!) ?? [];
  bench.provider.onChunk = null;
  // No delta seen: the streaming time (and so the bound) was not measured.
  const streamMs = w.length > 0 ? w.at(-1)! - w[0]! : NaN;
  return { ...counts, total: counts.explicit + counts.implicit, streamMs };
}
