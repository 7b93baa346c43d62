import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { codeOf, deferred, endedRun, onPostgres, removeTempDirs, sendMessage, startTestServer, startThread, tempDatabaseFile, waitUntil, type TestServer } from './helpers.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * PostgreSQL unreachable for a while (a TCP proxy in front of it is cut, then restored): /ready
 * says 503 naming the database, requests answer STORAGE_ERROR (never the driver's message), the
 * process lives on, and everything works again once the database is back.
 */

// PostgreSQL only: a SQLite file cannot become unreachable; its refusals are in storage-faults.test.ts and health.test.ts.
describe.skipIf(!onPostgres)('PostgreSQL unreachable for a while', () => {
  let fake: FakeProvider;
  let proxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    fake = await startFakeProvider();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(process.env.TEST_POSTGRES_URL!).port || 5432) });
    const direct = new URL(tempDatabaseFile());
    direct.host = `127.0.0.1:${proxy.port}`;
    server = await startTestServer({ provider: fake, databaseFile: direct.toString() });
  });
  afterAll(async () => {
    await server?.stop().catch(() => {});
    await proxy?.close();
    await fake?.close();
    removeTempDirs();
  });

  const ready = async () => {
    const res = await fetch(server.url.replace(/\/graphql$/, '/ready'));
    return { status: res.status, body: (await res.json()) as any };
  };

  it('/ready 503 naming the database, requests STORAGE_ERROR, the run ends STORAGE_ERROR or completes once it is back; then all works again', async () => {
    expect(await ready()).toEqual({ status: 200, body: { status: 'ok', checks: { database: 'ok', shutdown: 'ok' } } });
    const gate = deferred();
    fake.enqueue({ chunks: ['Before ', 'the ', 'outage, ', 'after it.'], pauseAfter: 2, resumeWhen: gate.promise });
    const { runId } = await startThread(server, 'Keep going through an outage');
    await waitUntil(async () => (await server.services.store.runs.find(runId))?.replyMessageId, 'the reply exists');

    await proxy.cut();
    expect(await ready()).toEqual({ status: 503, body: { status: 'unavailable', checks: { database: 'not answering', shutdown: 'ok' } } });
    const refused = await server.gql('mutation { createThread(input: { title: "during the outage" }) { thread { id } } }');
    expect(codeOf(refused), JSON.stringify(refused)).toBe('STORAGE_ERROR');
    expect(JSON.stringify(refused)).not.toMatch(/ECONNREFUSED|Connection terminated|select |insert |postgres/i);
    gate.resolve();

    await proxy.restore();
    await waitUntil(async () => (await ready()).status === 200, '/ready is 200 again', 10_000);
    const ended = await endedRun(server, runId);
    if (ended.status === 'FAILED') expect(ended.error.code).toBe('STORAGE_ERROR');
    else expect(ended).toMatchObject({ status: 'COMPLETED', reply: { content: 'Before the outage, after it.' } });

    const again = await server.gql('mutation { createThread(input: { title: "after the outage" }) { thread { id title } } }');
    expect(again.data.createThread.thread.title).toBe('after the outage');
    const { run } = await sendMessage(server, { threadId: again.data.createThread.thread.id, content: 'Still there?' });
    expect((await endedRun(server, run.id)).status).toBe('COMPLETED');
    // No connection was left checked out by a transaction the outage cut (the pool would drain, and stop() hang).
    const store = server.services.store;
    if (store.kind !== 'postgres') throw new Error('unreachable');
    const pool = store.db.$client;
    await waitUntil(() => pool.idleCount === pool.totalCount && pool.waitingCount === 0, 'every pooled connection is back in the pool');
  });
});
