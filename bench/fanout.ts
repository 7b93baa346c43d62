import type { EventLoopDelay } from './child-control.js';
import { profiled, type Bench, type FigureResult } from './context.js';
import { fmtInt, fmtMs, fmtPct, fmtRatio } from './stats.js';
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

  const late = (s: StreamStats, from = -Infinity, to = Infinity) => {
    const inWindow = s.latency.filter((_, i) => s.writeTimes[i]! >= from && s.writeTimes[i]! <= to);
    return inWindow.filter((l) => l > LATE_MS).length / Math.max(1, inWindow.length);
  };
  const steadyLate = (x: MeasuredRound) => (x.steady ? fmtPct(late(x.stats, ...x.steady)) : 'n/a');
  const cpuPerFrame = (x: MeasuredRound) => `${((x.cpuMs * 1000) / Math.max(1, x.stats.delivered)).toFixed(0)} µs`;
  const fps = (s: StreamStats) => s.delivered / (s.windowMs / 1000);
  const delivered = (s: StreamStats) => s.delivered / s.expected;
  const eld = (e: EventLoopDelay) => `${fmtMs(e.p99)} (max ${fmtMs(e.max)})`;
  return {
    rows: [
      {
        figure: '6',
        metric: `${streams} streams at ${PACE_MS} ms: frames delivered`,
        threadql: `${fmtInt(tq.stats.delivered)} / ${fmtInt(tq.stats.expected)}`,
        baseline: `${fmtInt(base.stats.delivered)} / ${fmtInt(base.stats.expected)}`,
        ratio: fmtRatio(delivered(tq.stats) / delivered(base.stats)),
        goal: '100 %',
        check: fmtPct(delivered(tq.stats)),
        met: tq.stats.delivered === tq.stats.expected,
      },
      {
        figure: '6',
        metric: `frames late > ${LATE_MS} ms`,
        threadql: fmtPct(late(tq.stats)),
        baseline: fmtPct(late(base.stats)),
        ratio: fmtRatio(late(tq.stats) / late(base.stats)),
        goal: '< 1 %',
        check: fmtPct(late(tq.stats)),
        met: late(tq.stats) < 0.01,
      },
      {
        figure: '6',
        metric: 'frames/s',
        threadql: `${fmtInt(fps(tq.stats))}/s`,
        baseline: `${fmtInt(fps(base.stats))}/s`,
        ratio: fmtRatio(fps(tq.stats) / fps(base.stats)),
        goal: '≥ 0.5×',
        check: fmtRatio(fps(tq.stats) / fps(base.stats)),
        met: fps(tq.stats) / fps(base.stats) >= 0.5,
      },
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
