import { performance } from 'node:perf_hooks';
import { startEld, type EventLoopDelay } from './child-control.js';
import type { Child } from './children.js';
import { THREAD_EVENTS, SEND, TERMINAL, createThread, type Bench } from './context.js';
import { gql, openSse, pool, sleep, type SseConnection } from './clients.js';
import { percentile } from './stats.js';

/**
 * Drives streamed replies through the three paths the figures compare, and times every delta
 * from the moment the provider writes it (provider hook) to the moment a client receives it —
 * provider and clients live in this process, so both times come from one clock:
 *  - threadql: one threadEvents subscription (SSE) per thread, then sendMessage;
 *  - sdk: the openai SDK streaming straight from the provider;
 *  - relay: the bare node:http SSE relay in the baseline child.
 * Each stream carries a unique key (the user message), which is how a provider stream and a
 * client's arrivals are matched.
 */

/** Arrival times of each stream's deltas, by key. */
export type Arrivals = Map<string, number[]>;

let keyCounter = 0;
export const newKeys = (n: number, tag: string) => Array.from({ length: n }, () => `${tag}-${keyCounter++}`);

/** Records the provider's write time of every delta, by key. */
export function recordWrites(bench: Bench): Map<string, number[]> {
  const writes = new Map<string, number[]>();
  bench.provider.onChunk = (key, index, time) => {
    let list = writes.get(key);
    if (!list) writes.set(key, (list = []));
    list[index] = time;
  };
  return writes;
}

/** Time for a round to end before its streams count as undelivered. */
const roundTimeoutMs = (bench: Bench) => bench.provider.shape.chunks * bench.provider.shape.paceMs + 30_000;

/** Subscribers held open across rounds, one thread each, as a chat frontend holds them. */
export class ThreadqlClients {
  private constructor(
    private readonly url: string,
    private readonly threads: string[],
    private readonly connections: SseConnection[],
    private readonly current: ClientState[],
  ) {}

  static async open(bench: Bench, n: number): Promise<ThreadqlClients> {
    const { url } = bench.threadql.ready;
    const threads = await pool(Array.from({ length: n }), 50, () => createThread(url));
    const current: ClientState[] = threads.map(() => ({ arrivals: [], first: null, end: null }));
    const connections = await pool(threads, 100, async (threadId, i) => {
      const state = current[i]!;
      const conn = openSse(url, JSON.stringify({ query: THREAD_EVENTS, variables: { t: threadId } }), (data, time) => {
        // Deltas are recognised without parsing: the parser must not be what is measured.
        if (data.includes('"MessageDeltaEvent"')) {
          if (state.arrivals.push(time) === 1) state.first?.();
        } else if (data.includes('"RunStatusEvent"') && TERMINAL.has(JSON.parse(data).data.threadEvents.run.status)) {
          state.end?.();
        }
      });
      await conn.ready;
      return conn;
    });
    return new ThreadqlClients(url, threads, connections, current);
  }

  /**
   * One reply per client (keys[i] goes to client i); resolves when all have ended. The sends
   * are spread evenly over `ramp.ms` (0: all at once); see Ramp for the hooks.
   */
  async round(bench: Bench, keys: string[], ramp: Ramp = {}): Promise<Arrivals> {
    const out: Arrivals = new Map();
    const hooks = rampHooks(keys.length, ramp);
    await Promise.all(
      keys.map(async (key, i) => {
        const state = this.current[i]!;
        state.arrivals = [];
        state.first = hooks.streaming;
        out.set(key, state.arrivals);
        const ended = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, roundTimeoutMs(bench) + (ramp.ms ?? 0));
          state.end = () => (clearTimeout(timer), resolve());
        });
        await hooks.waitTurn(i);
        await gql(this.url, SEND, { t: this.threads[i], c: key });
        await ended;
        hooks.ended();
        state.end = null;
        state.first = null;
      }),
    );
    return out;
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}

/** The same replies streamed with the openai SDK straight from the provider. */
export async function sdkRound(bench: Bench, keys: string[]): Promise<Arrivals> {
  const out: Arrivals = new Map();
  await Promise.all(
    keys.map(async (key) => {
      const arrivals: number[] = [];
      out.set(key, arrivals);
      const stream = await bench.sdk.responses.create({ model: 'bench', input: [{ role: 'user', content: key }], stream: true, store: false });
      for await (const event of stream) if (event.type === 'response.output_text.delta') arrivals.push(performance.now());
    }),
  );
  return out;
}

/** The same replies through the bare node:http SSE relay (same ramp as ThreadqlClients.round). */
export async function relayRound(bench: Bench, keys: string[], ramp: Ramp = {}): Promise<Arrivals> {
  const out: Arrivals = new Map();
  const hooks = rampHooks(keys.length, ramp);
  await Promise.all(
    keys.map(async (key, i) => {
      const arrivals: number[] = [];
      out.set(key, arrivals);
      await hooks.waitTurn(i);
      const conn = openSse(bench.baseline.ready.relayUrl, JSON.stringify({ key }), (data, time) => {
        if (data.includes('"MessageDeltaEvent"') && arrivals.push(time) === 1) hooks.streaming();
      });
      await conn.ready;
      const timer = setTimeout(() => conn.close(), roundTimeoutMs(bench));
      await conn.done;
      clearTimeout(timer);
      hooks.ended();
    }),
  );
  return out;
}

export interface Ramp {
  /** Spread the starts evenly over this many milliseconds. */
  ms?: number;
  /** Every stream has received its first delta. */
  onAllStreaming?: () => void;
  /** The first stream has ended. */
  onFirstEnd?: () => void;
}

interface ClientState {
  arrivals: number[];
  /** Called at the first delta of the current round. */
  first: (() => void) | null;
  end: (() => void) | null;
}

function rampHooks(n: number, ramp: Ramp) {
  const t0 = performance.now();
  let started = 0;
  let ended = 0;
  return {
    waitTurn: (i: number) => sleep(Math.max(0, t0 + ((ramp.ms ?? 0) * i) / n - performance.now())),
    streaming: () => void (++started === n && ramp.onAllStreaming?.()),
    ended: () => void (++ended === 1 && ramp.onFirstEnd?.()),
  };
}

export interface StreamStats {
  streams: number;
  expected: number;
  delivered: number;
  /** First delta: provider write → client arrival. */
  ttft: number[];
  /** Every delta: provider write → client arrival. */
  latency: number[];
  /** The provider's write time of each `latency` sample. */
  writeTimes: number[];
  /** For each delta after the first: the client's gap minus the provider's gap. */
  gapExcess: number[];
  /** The client's gap between two deltas. */
  gaps: number[];
  /** First provider write → last arrival; NaN when there is no such window. */
  windowMs: number;
}

export function analyse(arrivals: Arrivals, writes: Map<string, number[]>, chunks: number): StreamStats {
  const s: StreamStats = { streams: arrivals.size, expected: arrivals.size * chunks, delivered: 0, ttft: [], latency: [], writeTimes: [], gapExcess: [], gaps: [], windowMs: 0 };
  let first = Infinity;
  let last = -Infinity;
  for (const [key, a] of arrivals) {
    const w = writes.get(key) ?? [];
    s.delivered += Math.min(a.length, chunks);
    if (w[0] !== undefined) first = Math.min(first, w[0]);
    if (a.length > 0) last = Math.max(last, a.at(-1)!);
    if (a[0] !== undefined && w[0] !== undefined) s.ttft.push(a[0] - w[0]);
    for (let k = 0; k < Math.min(a.length, w.length); k++) {
      s.latency.push(a[k]! - w[k]!);
      s.writeTimes.push(w[k]!);
      if (k > 0) {
        s.gaps.push(a[k]! - a[k - 1]!);
        s.gapExcess.push(a[k]! - a[k - 1]! - (w[k]! - w[k - 1]!));
      }
    }
  }
  // No frame, or all at one instant: a window of zero length has no rate.
  s.windowMs = last > first ? last - first : NaN;
  return s;
}

/** Merges the stats of several rounds. */
export function merge(all: StreamStats[]): StreamStats {
  return all.reduce((acc, s) => ({
    streams: acc.streams + s.streams,
    expected: acc.expected + s.expected,
    delivered: acc.delivered + s.delivered,
    ttft: acc.ttft.concat(s.ttft),
    latency: acc.latency.concat(s.latency),
    writeTimes: acc.writeTimes.concat(s.writeTimes),
    gapExcess: acc.gapExcess.concat(s.gapExcess),
    gaps: acc.gaps.concat(s.gaps),
    windowMs: acc.windowMs + s.windowMs,
  }));
}

export const p = percentile;

export interface MeasuredRound {
  stats: StreamStats;
  /** The server process's event-loop delay: whole round, and the steady part. */
  eld: EventLoopDelay;
  steadyEld: EventLoopDelay;
  /** The bench process's (provider + clients), whole round. */
  benchEld: EventLoopDelay;
  /** The steady part: every stream has its first delta, none has ended yet (bench clock); null if none. */
  steady: [number, number] | null;
  /** The server process's CPU time over the round, in milliseconds. */
  cpuMs: number;
}

/** The steady part's length, or why there is none. */
export const steadyText = (m: MeasuredRound) =>
  m.steady ? `${(m.steady[1] - m.steady[0]).toFixed(0)} ms` : 'none, a stream ended before the last one began';

/** A round with its starts spread over `rampMs`, measured on both sides of the wire. */
export async function measuredRound(
  bench: Bench,
  server: Child<unknown>,
  chunks: number,
  rampMs: number,
  run: (ramp: Ramp) => Promise<Arrivals>,
): Promise<MeasuredRound> {
  const writes = recordWrites(bench);
  const steady: [number, number] = [0, 0];
  const none: EventLoopDelay = { p50: NaN, p99: NaN, max: NaN, samples: 0 };
  let steadyEld: Promise<EventLoopDelay> = Promise.resolve(none);
  const ramp: Ramp = {
    ms: rampMs,
    onAllStreaming: () => {
      steady[0] = performance.now();
      void server.call('eldStart', 'steady');
    },
    onFirstEnd: () => {
      if (!steady[0]) return; // a reply ended before the last one began: no steady part
      steady[1] = performance.now();
      steadyEld = server.call<EventLoopDelay>('eldStop', 'steady');
    },
  };
  await server.call('eldStart');
  const cpu0 = await server.call<number>('cpu');
  const stopBenchEld = startEld();
  const arrivals = await run(ramp);
  const benchEld = stopBenchEld();
  const cpuMs = (await server.call<number>('cpu')) - cpu0;
  const eld = await server.call<EventLoopDelay>('eldStop');
  return {
    stats: analyse(arrivals, writes, chunks),
    eld,
    steadyEld: await steadyEld,
    benchEld,
    steady: steady[1] > steady[0] && steady[0] > 0 ? steady : null,
    cpuMs,
  };
}
