import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqliteStore } from '../src/store/sqlite/index.js';
import type { FakeProvider } from './fake-provider.js';
import { NO_RATE_LIMIT, ok, onPostgres, startWithFakeProvider, stopWithFakeProvider, type TestServer } from './helpers.js';

/**
 * The timed flush stores many streaming threads' deltas in transactions of at most 24 threads
 * each (src/services/events/event-log.ts, FLUSH_THREADS_PER_TX), not one for all: on SQLite
 * a transaction holds the event loop from its start to its end. Every reply is stored whole.
 */
// The grouping is the event log's, whatever the backend; the count reads SQLite's statements.
describe.skipIf(onPostgres)('flushes of many streaming threads', () => {
  let fake: FakeProvider;
  let server: TestServer;
  const threadsPerTransaction: number[] = [];

  beforeAll(async () => {
    ({ fake, server } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, FLUSH_INTERVAL_MS: '50' } }));
    // Counts the threads each transaction locks (a flush locks every thread it stores), from the
    // statements better-sqlite3 runs: BEGIN starts a transaction, and so does a SAVEPOINT (one that
    // shares its COMMIT with others, src/store/sqlite/group-commit.ts); the sequencer's read locks a thread.
    const sqlite = (server.services.store as SqliteStore).db.$client;
    const proto = Object.getPrototypeOf(sqlite.prepare('select 1')) as Record<'get', (...args: unknown[]) => unknown> & { run: (...args: unknown[]) => unknown };
    for (const method of ['run', 'get'] as const) {
      const original = proto[method];
      proto[method] = function (this: { source: string }, ...args: unknown[]) {
        if (/^(begin|savepoint)/i.test(this.source)) threadsPerTransaction.push(0);
        else if (this.source.startsWith('select last_event_seq') && threadsPerTransaction.length > 0) threadsPerTransaction[threadsPerTransaction.length - 1]!++;
        return original.apply(this, args);
      };
    }
  });
  afterAll(() => stopWithFakeProvider(server, fake));

  it('60 concurrent streams: no transaction stores more than 24 threads, several store more than one, every reply is whole', async () => {
    const chunks = Array.from({ length: 30 }, (_, i) => `w${i} `);
    fake.setDefault({ chunks, paceMs: 10 });
    const replies = await Promise.all(
      Array.from({ length: 60 }, () =>
        ok(server, `mutation { createThread(input: { messages: [{ role: USER, content: "go" }] }) { reply { status content } } }`),
      ),
    );
    for (const r of replies) expect(r.createThread.reply).toEqual({ status: 'COMPLETED', content: chunks.join('') });
    expect(Math.max(...threadsPerTransaction)).toBeLessThanOrEqual(24);
    expect(threadsPerTransaction.filter((n) => n > 1).length).toBeGreaterThan(2);
  });
});
