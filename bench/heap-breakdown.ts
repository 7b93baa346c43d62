import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild, type Child } from './children.js';
import { openSse, openWsSubscription, pool, sleep } from './clients.js';
import { THREAD_EVENTS, createThread } from './context.js';

/**
 * Where the heap of an idle subscription goes: heap snapshots of a threadql child holding no
 * subscription and then N idle `threadEvents` ones (SSE or WebSocket), and the difference by
 * object kind (constructor, closure name, or V8's internal kinds), per subscription. Not a
 * figure: a tool for finding what to cut (figure 5 measures the RSS).
 *
 *   npx tsx bench/heap-breakdown.ts [sse|ws] [N] [top]
 */

const transport = (process.argv[2] ?? 'sse') as 'sse' | 'ws';
const n = Number(process.argv[3] ?? 2000);
const top = Number(process.argv[4] ?? 40);
const THREADS = 100;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count of every object kind in the snapshot. */
function byKind(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const kinds = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt!]!]!;
    const name = snap.strings[snap.nodes[i + nameAt!]!]!;
    // Objects and closures by name; strings, arrays, code and the rest by V8's kind.
    const kind = type === 'object' || type === 'closure' || type === 'native' ? `${type === 'closure' ? 'fn ' : ''}${name.slice(0, 60)}` : `(${type})`;
    const entry = kinds.get(kind) ?? { size: 0, count: 0 };
    entry.size += snap.nodes[i + sizeAt!]!;
    entry.count++;
    kinds.set(kind, entry);
  }
  return kinds;
}

async function snapshot(child: Child<unknown>, file: string): Promise<Map<string, { size: number; count: number }>> {
  await child.call('memory');
  await child.call('heapSnapshot', file);
  const kinds = byKind(file);
  if (!process.env.KEEP_SNAPSHOTS) rmSync(file);
  return kinds;
}

const dir = process.env.KEEP_SNAPSHOTS ?? mkdtempSync(join(tmpdir(), 'tql-heap-'));
const child = await startChild<{ url: string }>('./threadql-child.ts', {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  NODE_ENV: 'production',
  LOG_LEVEL: 'silent',
  HOST: '127.0.0.1',
  PORT: '0',
  DATABASE_URL: join(dir, 'threadql.db'),
  MAX_SUBSCRIPTIONS_PER_OWNER: '100000',
  RATE_LIMIT_REQUESTS: '1000000000',
});
try {
  const { url } = child.ready;
  const threads = await pool(Array.from({ length: THREADS }), 20, () => createThread(url));
  const open = (i: number) =>
    transport === 'sse'
      ? openSse(url, JSON.stringify({ query: THREAD_EVENTS, variables: { t: threads[i % THREADS] } }), () => {})
      : openWsSubscription(url, THREAD_EVENTS, { t: threads[i % THREADS] });
  const gauge = async (count: number) => {
    for (let tries = 0; tries < 600; tries++) {
      const open = (await child.call<Record<string, number>>('openSubscriptions'))[transport === 'sse' ? 'sse' : 'websocket'] ?? 0;
      if (open === count) return;
      await sleep(50);
    }
    throw new Error(`the gauge never reached ${count}`);
  };
  // Warm-up, as figure 5 does: compiled code and lazily built caches are not per subscription.
  const warm = await pool(Array.from({ length: 100 }), 100, async (_, i) => {
    const c = open(i);
    await c.ready;
    return c;
  });
  await gauge(100);
  for (const c of warm) c.close();
  await gauge(0);
  await sleep(500);
  const memBefore = await child.call<{ heapUsed: number; rss: number }>('memory');
  const before = await snapshot(child, join(dir, 'before.heapsnapshot'));
  const held = await pool(Array.from({ length: n }), 200, async (_, i) => {
    const c = open(i);
    await c.ready;
    return c;
  });
  await gauge(n);
  await sleep(500);
  const memAfter = await child.call<{ heapUsed: number; rss: number }>('memory');
  const after = await snapshot(child, join(dir, 'after.heapsnapshot'));
  for (const c of held) c.close();

  const rows = [...after].map(([kind, a]) => {
    const b = before.get(kind) ?? { size: 0, count: 0 };
    return { kind, bytes: (a.size - b.size) / n, count: (a.count - b.count) / n };
  });
  rows.sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  console.log(`${transport}, ${n} idle subscriptions: heap ${((memAfter.heapUsed - memBefore.heapUsed) / n / 1024).toFixed(1)} KB, RSS ${((memAfter.rss - memBefore.rss) / n / 1024).toFixed(1)} KB per subscription; snapshot self sizes ${(total / 1024).toFixed(1)} KB:`);
  for (const r of rows.slice(0, top)) console.log(`${r.bytes.toFixed(0).padStart(7)} B  ${r.count.toFixed(2).padStart(6)} ×  ${r.kind}`);
} finally {
  await child.stop();
  if (!process.env.KEEP_SNAPSHOTS) rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
