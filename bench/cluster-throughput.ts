import autocannon from 'autocannon';
import { performance } from 'node:perf_hooks';
import { JSON_HEADERS, gql, openSse, pool } from './clients.js';
import { SEND, THREAD_EVENTS, row, type Bench, type FigureResult } from './context.js';
import { setUpCluster, startServer, stopServer, type Server } from './cluster-processes.js';
import { atLeast, fmtInt, fmtPerSecond, fmtRatio, per, ratio } from './stats.js';

/**
 * Figure 11: what a second instance buys. Two threadql processes (A, B) on one PostgreSQL
 * database and one Redis, measured in the same run against A alone (the same processes, the
 * same database): completed runs per second with the clients split over both instances, and
 * streamed frames per second with concurrent runs (and their subscribers) split over both.
 * Each measure alternates one instance / two instances in halves, so a shift in the machine's
 * load hits both alike.
 */

const CLIENTS = 20;
/** The goal: two instances give at least this many times one instance's rate, in the same run. */
const TWO_OVER_ONE = 1.6;
const CREATE_AND_WAIT = JSON.stringify({
  query: 'mutation { createThread(input: { messages: [{ role: USER, content: "Say hello in five words." }] }) { run { id } reply { status content } } }',
});

/** Completed runs/s with CLIENTS connections spread over `urls` (autocannon, one instance per URL, at once). */
async function runsPerSecond(urls: string[], seconds: number): Promise<{ ok: number; failed: number; seconds: number }> {
  const share = Math.floor(CLIENTS / urls.length);
  const results = await Promise.all(
    urls.map((url) =>
      autocannon({ url, method: 'POST', headers: JSON_HEADERS, body: CREATE_AND_WAIT, connections: share, duration: seconds, timeout: 30, verifyBody: (b) => b.includes('"status":"COMPLETED"') }),
    ),
  );
  return {
    ok: results.reduce((n, r) => n + r['2xx'] - r.mismatches, 0),
    failed: results.reduce((n, r) => n + r.non2xx + r.errors + r.mismatches, 0),
    seconds: Math.max(...results.map((r) => r.duration)),
  };
}

/** `streams` runs at once (spread over `urls`), each watched by a threadEvents subscriber on its own instance: delta frames/s. */
async function framesPerSecond(urls: string[], streams: number): Promise<{ frames: number; seconds: number; complete: number }> {
  const threads = await pool(Array.from({ length: streams }, (_, i) => urls[i % urls.length]!), 16, async (url) => ({
    url,
    id: (await gql(url, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id as string,
  }));
  let frames = 0;
  let complete = 0;
  const ends: Promise<void>[] = [];
  const subs = threads.map(({ url, id }) => {
    let ended!: () => void;
    ends.push(new Promise<void>((resolve) => (ended = resolve)));
    return openSse(url, JSON.stringify({ query: THREAD_EVENTS, variables: { t: id } }), (data) => {
      const event = JSON.parse(data).data?.threadEvents;
      if (event?.__typename === 'MessageDeltaEvent') frames++;
      else if (event?.__typename === 'RunStatusEvent' && event.run.status === 'COMPLETED') {
        complete++;
        ended();
      }
    });
  });
  await Promise.all(subs.map((s) => s.ready));
  const start = performance.now();
  await pool(threads, 16, ({ url, id }) => gql(url, SEND, { t: id, c: 'Stream please.' }));
  await Promise.race([Promise.all(ends), new Promise((resolve) => setTimeout(resolve, 60_000))]);
  const seconds = (performance.now() - start) / 1000;
  for (const s of subs) s.close();
  return { frames, seconds, complete };
}

export async function measureClusterThroughput(bench: Bench): Promise<FigureResult> {
  const cluster = await setUpCluster(bench, 'cluster', { MAX_SUBSCRIPTIONS_PER_OWNER: '100000' });
  const env = cluster.env;
  const servers: Server[] = [];
  const seconds = bench.quick ? 2 : 6;
  const streams = bench.quick ? 20 : 60;
  const chunks = bench.quick ? 50 : 200;
  const one = { runs: { ok: 0, failed: 0, seconds: 0 }, frames: { frames: 0, seconds: 0, complete: 0 } };
  const two = { runs: { ok: 0, failed: 0, seconds: 0 }, frames: { frames: 0, seconds: 0, complete: 0 } };
  const add = (into: typeof one, runs: typeof one.runs, frames: typeof one.frames) => {
    into.runs = { ok: into.runs.ok + runs.ok, failed: into.runs.failed + runs.failed, seconds: into.runs.seconds + runs.seconds };
    into.frames = { frames: into.frames.frames + frames.frames, seconds: into.frames.seconds + frames.seconds, complete: into.frames.complete + frames.complete };
  };
  try {
    servers.push(await startServer(env('A')));
    servers.push(await startServer(env('B')));
    const [a, b] = servers as [Server, Server];
    // Warm-up: both instances, the pools, the provider.
    bench.provider.shape = { chunks: 5, paceMs: 0 };
    await runsPerSecond([a.url, b.url], 1);
    for (let half = 0; half < 2; half++) {
      bench.provider.shape = { chunks: 5, paceMs: 0 };
      const runsOne = await runsPerSecond([a.url], seconds / 2);
      const runsTwo = await runsPerSecond([a.url, b.url], seconds / 2);
      bench.provider.shape = { chunks, paceMs: 0 };
      const framesOne = await framesPerSecond([a.url], streams);
      const framesTwo = await framesPerSecond([a.url, b.url], streams);
      add(one, runsOne, framesOne);
      add(two, runsTwo, framesTwo);
    }
  } finally {
    await Promise.all(servers.map(stopServer));
    await cluster.cleanup();
  }
  // No request finished at all (neither completed nor failed): no rate was measured, not 0/s.
  const runRate = (r: typeof one.runs) => (r.ok + r.failed > 0 ? per(r.ok, r.seconds) : NaN);
  const frameRate = (f: typeof one.frames) => per(f.frames, f.seconds);
  const runsRatio = ratio(runRate(two.runs), runRate(one.runs));
  const framesRatio = ratio(frameRate(two.frames), frameRate(one.frames));
  const goal = atLeast(TWO_OVER_ONE, `≥ ${TWO_OVER_ONE}×`);
  return {
    rows: [
      row({
        figure: '11',
        metric: `completed runs/s, ${CLIENTS} clients, two instances (A + B) vs one (A), PostgreSQL + Redis`,
        threadql: fmtPerSecond(runRate(two.runs)),
        baseline: fmtPerSecond(runRate(one.runs)),
        ratio: fmtRatio(runsRatio),
        goal,
        value: runsRatio,
        format: fmtRatio,
        alsoRequired: one.runs.failed + two.runs.failed === 0,
      }),
      row({
        figure: '11',
        metric: `streamed frames/s, ${streams} concurrent runs of ${chunks} deltas with a subscriber each, two instances vs one`,
        threadql: fmtPerSecond(frameRate(two.frames)),
        baseline: fmtPerSecond(frameRate(one.frames)),
        ratio: fmtRatio(framesRatio),
        goal,
        value: framesRatio,
        format: fmtRatio,
        // Runs that did not complete within the round's time would make either rate a partial one.
        alsoRequired: one.frames.complete === 2 * streams && two.frames.complete === 2 * streams,
      }),
    ],
    workload: [
      `Two threadql processes (A, B), NODE_ENV=production, on one PostgreSQL database and one Redis; "one" sends everything to A, "two" splits clients (and runs with their subscribers) evenly over A and B. Alternating one/two in two halves after a 1 s warm-up.`,
      `Runs: autocannon, ${CLIENTS} connections in all, ${seconds} s per side, \`createThread\` with one USER message answering when the run has ended (counted when COMPLETED); the provider streams 5 deltas at once. ` +
        `One: ${fmtInt(one.runs.ok)} completed, ${one.runs.failed} failed; two: ${fmtInt(two.runs.ok)} completed, ${two.runs.failed} failed.`,
      `Frames: per half ${streams} threads, each with a \`threadEvents\` SSE subscriber on the instance that runs it, then \`sendMessage\` on each; the provider streams ${chunks} deltas at once; frames/s = delta frames received by all subscribers / time from the first send to the last COMPLETED. ` +
        `Runs completed: one ${one.frames.complete}/${2 * streams}, two ${two.frames.complete}/${2 * streams}.`,
    ],
    notes: [
      'Every instance, PostgreSQL, Redis, the provider and the load generator share this machine\'s cores, so the ratio shows the protocol\'s overhead and contention more than the capacity a second machine would add.',
    ],
  };
}
