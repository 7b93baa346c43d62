import { afterAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { deferred, queryDatabase, removeTempDirs, tempDatabaseFile, TEST_API_KEY, waitUntil, within } from './helpers.js';
import { spawnServer } from './process-helpers.js';

/**
 * A graceful stop however it is signalled. `npm start` is several processes (npm, a shell, the
 * server); a SIGTERM to the process group reaches each of them, and npm forwards its own to the
 * server, so the server sees the signal more than once. The first starts the stop; later ones
 * must not cut the grace period short: the run going on finishes COMPLETED and the exit is 0.
 */

describe('npm start, stopped by SIGTERM to its whole process group', () => {
  let fake: FakeProvider;
  let groupId: number | undefined;

  afterAll(async () => {
    if (groupId) {
      try {
        process.kill(-groupId, 'SIGKILL');
      } catch {}
    }
    await fake?.close();
    removeTempDirs();
  });

  it('lets the active run finish within SHUTDOWN_GRACE_MS, however many signals arrive, and exits 0', async () => {
    fake = await startFakeProvider();
    const databaseFile = tempDatabaseFile();
    const server = await spawnServer({
      command: ['npm', 'start'],
      detached: true,
      env: {
        DATABASE_URL: databaseFile,
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: TEST_API_KEY,
        LLM_API: 'responses',
        SHUTDOWN_GRACE_MS: '30000',
        FLUSH_INTERVAL_MS: '20',
      },
    });
    groupId = server.child.pid!;

    const pause = deferred();
    fake.enqueue({ chunks: ['Finished ', 'despite ', 'the ', 'signals.'], pauseAfter: 1, resumeWhen: pause.promise });
    const res = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { createThread(input: { messages: [{ role: USER, content: "Go on" }] }) { run { id } } }' }),
    });
    const runId: string = (await res.json()).data.createThread.run.id;
    await fake.waitForRequests(1);

    // The run is held mid-stream while the signals arrive: the grace period is what lets it finish.
    process.kill(-groupId, 'SIGTERM');
    await waitUntil(() => /shutting down: finishing active runs/.test(server.output()), 'the stop to begin', 10_000);
    const repeats = () => (server.output().match(/already shutting down/g) ?? []).length;
    const before = repeats();
    process.kill(-groupId, 'SIGTERM');
    await waitUntil(() => repeats() > before, 'the later signal to be logged', 10_000);
    expect(server.child.exitCode).toBeNull();

    pause.resolve();
    const exit = await within(server.exited, 20_000, 'npm start to exit');
    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    groupId = undefined;

    const run = await queryDatabase(databaseFile, 'select status, error_code as error from runs where id = ?', [runId]);
    expect(run).toEqual([{ status: 'COMPLETED', error: null }]);
    const reply = await queryDatabase(databaseFile, `select content, status from messages where run_id = ? and role = 'ASSISTANT'`, [runId]);
    expect(reply).toEqual([{ content: 'Finished despite the signals.', status: 'COMPLETED' }]);
  });
});
