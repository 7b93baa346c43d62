import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider } from './fake-provider.js';
import { deferred, endedRun, newThread, NO_RATE_LIMIT, onPostgres, sendMessage, startTestServer, startWithFakeProvider, stopWithFakeProvider, within, type TestServer } from './helpers.js';

/**
 * PostgreSQL start-up takes over the leases still held under this instance's INSTANCE_ID (its
 * previous process's). A thread whose row another instance holds locked at that moment is
 * skipped (its lease expires and any reaper takes it), never a start-up that fails.
 */
describe.skipIf(!onPostgres)('reclaiming own leases at start-up', () => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('skips a thread whose row another transaction holds, and starts', async () => {
    const gate = deferred();
    fake.enqueue({ chunks: ['Still ', 'going.'], pauseAfter: 1, resumeWhen: gate.promise });
    const threadId = await newThread(server);
    const { run } = await sendMessage(server, { threadId, content: 'Go.' });
    const store = server.services.store;
    if (store.kind !== 'postgres') throw new Error('PostgreSQL only');
    // Another instance's transaction holds the thread row (the lease still names 'test-server').
    const locker = await store.db.$client.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from threads where id = $1 for update', [threadId]);
      // The same INSTANCE_ID on the same database: its start-up reclaims 'test-server' leases.
      const second = await within(startTestServer({ databaseFile: server.databaseFile, provider: fake, env: NO_RATE_LIMIT }), 10_000, 'the second server to start');
      await locker.query('rollback');
      await second.stop();
    } finally {
      locker.release();
      gate.resolve();
    }
    expect((await within(endedRun(server, run.id), 10_000, 'the run to end')).status).toBe('COMPLETED');
  });
});
