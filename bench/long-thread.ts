import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { text as readText } from 'node:stream/consumers';
import { JSON_HEADERS } from './clients.js';
import { MESSAGES_LAST_20, conversation, createThread, profiled, row, type Bench, type FigureResult } from './context.js';
import { atMost, fmtMs, fmtRatio, mean, percentile, ratio } from './stats.js';

/**
 * Figure 8: the latest page of a long thread must cost what it costs on a short one (an
 * index seek, not a scan). One client, one keep-alive connection, requests one after the
 * other, alternating between the two threads so both see the same moments of the machine.
 * Timed with performance.now() around each request (autocannon's 1 ms resolution is too
 * coarse for sub-millisecond latencies).
 */

const LONG = 10_000;
const SHORT = 20;

export async function measureLongThread(bench: Bench): Promise<FigureResult> {
  const { url } = bench.threadql.ready;
  const setupStart = performance.now();
  const long = await createThread(url, conversation(LONG));
  const setupMs = performance.now() - setupStart;
  const short = await createThread(url, conversation(SHORT));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const time = (threadId: string) => timedRequest(url, agent, JSON.stringify({ query: MESSAGES_LAST_20, variables: { id: threadId } }));

  const warm = bench.quick ? 50 : 200;
  for (let i = 0; i < warm; i++) (await time(long), await time(short));
  const n = bench.quick ? 150 : 1500;
  const longMs: number[] = [];
  const shortMs: number[] = [];
  await profiled(bench, 'long-thread', async () => {
    for (let i = 0; i < n; i++) {
      longMs.push(await time(long));
      shortMs.push(await time(short));
    }
  });
  agent.destroy();

  const byRatio = ratio(percentile(longMs, 50), percentile(shortMs, 50));
  return {
    rows: [
      row({
        figure: '8',
        metric: `\`messages(last: 20)\` latency p50, ${LONG.toLocaleString('en-US')}-message thread vs ${SHORT}-message thread`,
        threadql: fmtMs(percentile(longMs, 50)),
        baseline: fmtMs(percentile(shortMs, 50)),
        ratio: fmtRatio(byRatio),
        goal: atMost(2, '≤ 2×'),
        value: byRatio,
        format: fmtRatio,
      }),
    ],
    workload: [
      `Threads of ${LONG.toLocaleString('en-US')} and ${SHORT} messages (same content sizes, created with one \`createThread\` each; the long one took ${fmtMs(setupMs)}). ` +
        `One keep-alive connection, ${n} requests per thread after ${warm} warm-up each, alternating threads. ` +
        `p50/p99/mean: long ${fmtMs(percentile(longMs, 50))}/${fmtMs(percentile(longMs, 99))}/${fmtMs(mean(longMs))}, short ${fmtMs(percentile(shortMs, 50))}/${fmtMs(percentile(shortMs, 99))}/${fmtMs(mean(shortMs))}.`,
    ],
  };
}

function timedRequest(url: string, agent: Agent, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { method: 'POST', agent, headers: { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) } }, (res) => {
      readText(res).then((text) => {
        const ms = performance.now() - start;
        if (res.statusCode !== 200 || !text.includes('"edges"') || text.includes('"errors"')) reject(new Error(`bad response ${res.statusCode}: ${text.slice(0, 300)}`));
        else resolve(ms);
      }, reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
