import type { EventLoopDelay } from './child-control.js';
import { profiled, row, type Bench, type FigureResult, type Row } from './context.js';
import { atLeast, atMost, fmtInt, fmtMs, fmtPct, fmtPerSecond, fmtRatio, fmtRatioOf, fmtUs, measured, per, ratio } from './stats.js';
import { measuredRound, newKeys, p, relayRound, steadyText, ThreadqlClients, type MeasuredRound, type StreamStats } from './streams.js';

/**
 * Figure 6: 500 streams at once, a delta every 20 ms on each. A frame is late when it reaches
 * its client more than 40 ms after the provider wrote it (two pacing intervals: the frame
 * behind it is due by then). Baseline: the bare node:http SSE relay of the same provider.
 *
 * The 500 replies start evenly over RAMP_MS (a start every 2 ms; half that in --quick), the same on both sides, then
 * all 500 stream together. Lateness counts every frame, ramp included; the steady part (every
 * stream has its first delta, none has ended) is reported apart. The bench process's own event-loop
 * delay is reported too: it holds the provider and the 500 clients, and were it saturated,
 * late frames would be its doing, not the server's.
 */

/** threadql's share of late frames may be at most this many times the relay's, in the same run. */
const LATE_TIMES_RELAY = 2;

/** --quick uses fewer (threadql needs several times the streaming time to deliver 500). */
const STREAMS = 500;
const QUICK_STREAMS = 100;
const PACE_MS = 20;
const LATE_MS = 40;
const RAMP_MS = 1000;

export async function measureFanout(bench: Bench): Promise<FigureResult> {
  const chunks = bench.quick ? 40 : 100;
  const streams = bench.quick ? QUICK_STREAMS : STREAMS;
  const rampMs = bench.quick ? 500 : RAMP_MS;
  bench.provider.shape = { chunks, paceMs: PACE_MS };

  const clients = await ThreadqlClients.open(bench, streams);
  const tq = await measuredRound(bench, bench.threadql, chunks, rampMs, (ramp) =>
    profiled(bench, 'fanout-500', () => clients.round(bench, newKeys(streams, 'fan'), ramp)),
  );
  clients.close();
  const base = await measuredRound(bench, bench.baseline, chunks, rampMs, (ramp) => relayRound(bench, newKeys(streams, 'relay'), ramp));
  bench.provider.onChunk = null;

  /** Share of frames later than LATE_MS (among those written in the window); NaN over no frame. */
  const late = (s: StreamStats, from = -Infinity, to = Infinity) => {
    const inWindow = s.latency.filter((_, i) => s.writeTimes[i]! >= from && s.writeTimes[i]! <= to);
    return per(inWindow.filter((l) => l > LATE_MS).length, inWindow.length);
  };
  const steadyLate = (x: MeasuredRound) => (x.steady ? fmtPct(late(x.stats, ...x.steady)) : 'no steady part');
  const cpuPerFrame = (x: MeasuredRound) => fmtUs(per(x.cpuMs, x.stats.delivered));
  const fps = (s: StreamStats) => per(s.delivered, s.windowMs / 1000);
  const delivered = (s: StreamStats) => per(s.delivered, s.expected);
  const eld = (e: EventLoopDelay) => `${fmtMs(e.p99)} (max ${fmtMs(e.max)})`;
  const lateTq = late(tq.stats);
  const lateRelay = late(base.stats);
  const fpsRatio = ratio(fps(tq.stats), fps(base.stats));
  return {
    rows: [
      row({
        figure: '6',
        metric: `${streams} streams at ${PACE_MS} ms: frames delivered`,
        threadql: `${fmtInt(tq.stats.delivered)} / ${fmtInt(tq.stats.expected)}`,
        baseline: `${fmtInt(base.stats.delivered)} / ${fmtInt(base.stats.expected)}`,
        ratio: fmtRatioOf(delivered(tq.stats), delivered(base.stats)),
        goal: atLeast(1, '100 %'),
        value: delivered(tq.stats),
        format: fmtPct,
      }),
      lateRow(lateTq, lateRelay),
      row({
        figure: '6',
        metric: 'frames/s',
        threadql: fmtPerSecond(fps(tq.stats)),
        baseline: fmtPerSecond(fps(base.stats)),
        ratio: fmtRatio(fpsRatio),
        goal: atLeast(0.8, '≥ 0.8× relay'),
        value: fpsRatio,
        format: fmtRatio,
      }),
    ],
    workload: [
      `${streams} replies of ${chunks} deltas, ${PACE_MS} ms apart; the ${streams} starts spread evenly over ${rampMs} ms on both sides. ` +
        `threadql: ${streams} threads with one \`threadEvents\` SSE subscriber each (all opened first), then one \`sendMessage\` per thread. ` +
        `Relay: one SSE request per reply to a node:http server that streams it from the provider with the openai SDK and writes one frame per delta.`,
      `Frame latency (provider write → client) p50/p99: threadql ${fmtMs(p(tq.stats.latency, 50))}/${fmtMs(p(tq.stats.latency, 99))}, relay ${fmtMs(p(base.stats.latency, 50))}/${fmtMs(p(base.stats.latency, 99))}. ` +
        `Late frames in the steady part (every stream has its first delta, none has ended; threadql: ${steadyText(tq)}, relay: ${steadyText(base)}): threadql ${steadyLate(tq)}, relay ${steadyLate(base)}.`,
      `frames/s = frames delivered / (first provider write → last frame received): threadql ${fmtMs(tq.stats.windowMs)}, relay ${fmtMs(base.stats.windowMs)}; ` +
        `${fmtInt((streams * 1000) / PACE_MS)}/s is the provider's rate with all ${streams} streaming.`,
      `Event-loop delay p99 in the server process, whole round: threadql ${eld(tq.eld)}, relay ${eld(base.eld)}; steady part: threadql ${eld(tq.steadyEld)}, relay ${eld(base.steadyEld)}. ` +
        `In the bench process (provider + clients): ${eld(tq.benchEld)} during threadql's round, ${eld(base.benchEld)} during the relay's. ` +
        `Server CPU per frame delivered (whole round, run start-up included): threadql ${cpuPerFrame(tq)}, relay ${cpuPerFrame(base)}.`,
    ],
  };
}

/**
 * Late frames, judged against the relay's share in the same run. The ratio is the check; when
 * the relay had no late frame the ratio does not exist, and the rule (at most 2× zero) holds
 * only if threadql had none either — both shares measured over frames that arrived.
 */
export function lateRow(tq: number, relay: number): Row {
  const byRatio = ratio(tq, relay);
  const relayNone = measured(tq) && relay === 0;
  return row({
    figure: '6',
    metric: `frames late > ${LATE_MS} ms (share of frames delivered)`,
    threadql: fmtPct(tq),
    baseline: fmtPct(relay),
    ratio: relayNone ? 'none (relay had no late frame)' : fmtRatio(byRatio),
    goal: atMost(LATE_TIMES_RELAY, `≤ ${LATE_TIMES_RELAY}× relay's share`),
    // The relay had none: threadql must have none (0×), else it is over any multiple of zero.
    value: relayNone ? (tq === 0 ? 0 : Infinity) : byRatio,
    format: (x) => (x === Infinity ? 'some late, relay none' : fmtRatio(x)),
    notMeasured: measured(tq) && measured(relay) ? undefined : 'no frame delivered on one side',
  });
}
