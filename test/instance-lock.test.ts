import { existsSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { deferred, NO_RATE_LIMIT, onPostgres, removeTempDirs, runOf, startTestServer, startThread, tempDatabaseFile, TEST_API_KEY, within, type TestServer } from './helpers.js';
import { spawnProcess, spawnServer, type ChildServer } from './process-helpers.js';

/**
 * One process per SQLite file: a second instance on the same DATABASE_URL refuses to start,
 * naming the file, and leaves the first one's runs alone; the lock goes with its holder, even
 * when the holder is killed with SIGKILL; `npm run keys` keeps working next to a live server.
 */

const IN_USE = /Another threadql instance holds the database .*test\.db/;

// SQLite only: the lock is a file beside the SQLite database. On PostgreSQL instances share the database by design.
describe.skipIf(onPostgres)('one instance per SQLite file', () => {
  let fake: FakeProvider;
  const servers: TestServer[] = [];
  const children: ChildServer[] = [];
  const resumes: Array<() => void> = [];

  const start = async (databaseFile?: string) => {
    fake ??= await startFakeProvider();
    const server = await startTestServer({ provider: fake, databaseFile, env: NO_RATE_LIMIT });
    servers.push(server);
    return server;
  };

  afterEach(async () => {
    for (const resume of resumes.splice(0)) resume();
    for (const s of servers.splice(0)) await s.stop();
    for (const c of children.splice(0)) c.child.kill('SIGKILL');
  });
  afterAll(async () => {
    await fake?.close();
    removeTempDirs();
  });

  it('a second server on the same file refuses to start, naming the file; the first one and its live run are unaffected', async () => {
    const first = await start();
    const pause = deferred();
    resumes.push(pause.resolve);
    fake.enqueue({ chunks: ['Still ', 'mine.'], pauseAfter: 1, resumeWhen: pause.promise });
    const { runId } = await startThread(first, 'Keep going');
    await fake.waitForRequests(1);

    await expect(start(first.databaseFile)).rejects.toThrow(IN_USE);
    await expect(start(first.databaseFile)).rejects.toThrow(first.databaseFile);

    // Without the lock, the second start-up's recovery would have ended this run FAILED SERVER_RESTARTED.
    expect(await runOf(first, runId)).toMatchObject({ status: 'IN_PROGRESS', error: null });
    pause.resolve();
    await within(first.services.runs.waitForEnd(runId), 3000, 'the run to end');
    expect(await runOf(first, runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Still mine.' } });

    // Once the first has stopped, the file is free again.
    await first.stop();
    const next = await start(first.databaseFile);
    expect(await runOf(next, runId)).toMatchObject({ status: 'COMPLETED' });
  });

  it('the entry point refuses too: it exits 1 with the message, and the server holding the file goes on serving', async () => {
    const holder = await start();
    const refused = spawnProcess({ env: { DATABASE_URL: holder.databaseFile } });
    const { code } = await within(refused.exited, 15_000, 'the second process to exit');
    expect(code).toBe(1);
    expect(refused.output()).toMatch(IN_USE);
    expect(refused.output()).not.toMatch(/listening on/);
    expect((await holder.gql('{ threads { edges { node { id } } } }')).errors).toBeUndefined();
  });

  it('a holder killed with SIGKILL leaves no lock behind: the next server starts', async () => {
    const databaseFile = tempDatabaseFile();
    fake ??= await startFakeProvider();
    const child = await spawnServer({ env: { DATABASE_URL: databaseFile, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: TEST_API_KEY } });
    children.push(child);
    // Across processes, the lock holds.
    await expect(start(databaseFile)).rejects.toThrow(IN_USE);

    child.child.kill('SIGKILL');
    await child.exited;
    expect(existsSync(`${databaseFile}-lock`)).toBe(true); // the file may stay; the lock did not
    const next = await start(databaseFile);
    expect((await next.gql('{ threads { edges { node { id } } } }')).errors).toBeUndefined();
  });

  it('npm run keys (another process on the same file) works while the server runs, and the server sees its key', async () => {
    const server = await start();
    const keys = (...args: string[]) => {
      const run = spawnProcess({ command: [process.execPath, '--import', 'tsx', 'scripts/keys.ts', ...args], env: { DATABASE_URL: server.databaseFile } });
      return within(run.exited, 15_000, `keys ${args.join(' ')}`).then(({ code }) => ({ code, output: run.output() }));
    };
    const created = await keys('create', '--owner', 'alice');
    expect(created.code, created.output).toBe(0);
    const key = /^(tql_\S+)$/m.exec(created.output)?.[1];
    expect(key).toBeDefined();

    const listed = await keys('list');
    expect(listed.code, listed.output).toBe(0);
    expect(listed.output).toMatch(/\talice\t/);

    // The key exists now: the server that was open asks for it.
    const anonymous = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ threads { edges { node { id } } } }' }) });
    expect(anonymous.status).toBe(401);
    const authed = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ threads { edges { node { id } } } }' }),
    });
    expect(authed.status).toBe(200);
  });
});
