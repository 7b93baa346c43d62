import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { serveControl } from './child-control.js';

/**
 * threadql as the bench runs it: a child process (`node --import tsx`) configured only through
 * its environment, exactly like `npm start`, so its memory and event loop are its own. The
 * parent holds the provider and the clients.
 */

const server = await startServer(loadConfig());
const { store, metrics } = server.services;

/**
 * Counts SQLite write transactions by wrapping the Statement methods of better-sqlite3 (the
 * prototype every prepared statement shares, including the BEGIN/COMMIT statements that
 * `db.transaction()` runs internally). Counted: every BEGIN (an explicit transaction, whatever
 * code opened it), and every writing statement run outside a transaction (SQLite commits
 * those on their own: one implicit transaction each). Savepoints (nested transactions) are
 * not transactions and are not counted.
 */
type Method = 'run' | 'get' | 'all' | 'iterate';
// The counter wraps better-sqlite3: on PostgreSQL (figure 4's second child) there is nothing to wrap, and txStart says so.
const statementProto =
  store.kind === 'sqlite' ? (Object.getPrototypeOf(store.db.$client.prepare('select 1')) as Record<Method, (...args: unknown[]) => unknown>) : null;
const originals = new Map<Method, (...args: unknown[]) => unknown>();
const counts = { explicit: 0, implicit: 0 };

function startCounting(): void {
  if (!statementProto) throw new Error(`transactions are counted on SQLite only (this child runs on ${store.kind})`);
  if (originals.size > 0) return;
  counts.explicit = 0;
  counts.implicit = 0;
  for (const method of ['run', 'get', 'all', 'iterate'] as const) {
    const original = statementProto[method];
    originals.set(method, original);
    statementProto[method] = function (this: { source: string; readonly: boolean; database: { inTransaction: boolean } }, ...args: unknown[]) {
      if (/^\s*BEGIN\b/i.test(this.source)) counts.explicit++;
      else if (!this.readonly && !this.database.inTransaction) counts.implicit++;
      return original.apply(this, args);
    };
  }
}

function stopCounting(): typeof counts {
  for (const [method, original] of originals) statementProto![method] = original;
  originals.clear();
  return { ...counts };
}

/** Open subscriptions by transport, from threadql's own gauge (figure 5 waits on it for WebSocket ones). */
async function openSubscriptions(): Promise<Record<string, number>> {
  const gauge = await metrics.registry.getSingleMetric('threadql_open_subscriptions')!.get();
  return Object.fromEntries(gauge.values.map((v) => [String(v.labels.transport), v.value]));
}

serveControl({
  txStart: startCounting,
  txStop: stopCounting,
  openSubscriptions,
  async stop() {
    await server.stop(0);
    setImmediate(() => process.exit(0));
  },
});
process.send!({ ready: true, url: server.url });
