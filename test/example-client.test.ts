import { readdirSync, readFileSync } from 'node:fs';
import { generate } from '@graphql-codegen/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThreadqlClient, type ThreadView } from '../examples/client/client.js';
import codegenConfig from '../examples/client/codegen.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { deferred, NO_RATE_LIMIT, onPostgres, removeTempDirs, startTestServer, type TestServer } from './helpers.js';
import { spawnProcess } from './process-helpers.js';

/** examples/client: its generated types are current, and it works against a real server. */

const THREAD = /* GraphQL */ `query ($id: ID!) { thread(id: $id) { messages(first: 100) { edges { node { content } } } } }`;

// Once, in the SQLite project: the client only calls the API, whose storage is tested on both backends.
describe.skipIf(onPostgres)('the typed example client', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let client: ThreadqlClient;
  const storedReply = async (threadId: string) => (await server.gql(THREAD, { id: threadId })).data.thread.messages.edges.at(-1).node.content;

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake, env: NO_RATE_LIMIT });
    client = new ThreadqlClient(server.url);
  });
  afterAll(async () => {
    await client?.dispose();
    await server?.stop();
    await fake?.close();
    removeTempDirs();
  });

  it('examples/client/gql is what GraphQL Code Generator makes of schema.graphql and the operations (npm run example:codegen)', async () => {
    const files = (await generate({ ...codegenConfig, silent: true }, false)) as { filename: string; content: string }[];
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(readFileSync(file.filename, 'utf8') === file.content, `${file.filename} is stale`).toBe(true);
    const committed = readdirSync(new URL('../examples/client/gql/', import.meta.url));
    expect(committed.sort()).toEqual(files.map((f) => f.filename.split('/').at(-1)).sort());
  });

  it('streams a reply, resumes after a "reload" from lastEventSeq, and ends with the stored text', async () => {
    const gate = deferred();
    fake.enqueue({ chunks: ['alpha ', 'beta ', 'gamma ', 'delta.'], pauseAfter: 2, resumeWhen: gate.promise });
    const threadId = await client.createThread('typed');
    const { runId, status } = await client.send(threadId, 'Go');
    expect(runId).toMatch(/^run_/);
    expect(['QUEUED', 'IN_PROGRESS']).toContain(status);
    const midway = deferred();
    const first = await client.openThread(threadId, (view) => view.lastMessage?.content === 'alpha beta ' && midway.resolve());
    if (first.lastMessage?.content !== 'alpha beta ') await midway.promise;
    first.close(); // the page goes away mid-stream

    // The reloaded page starts from what is stored (lastEventSeq may be behind the deltas the first
    // page saw: they are stored with the next flush) and catches up from its subscription's replay.
    const caughtUp = deferred();
    const done = deferred();
    const ended = (view: ThreadView) => view.runStatus === 'COMPLETED';
    const second = await client.openThread(threadId, (view) => {
      if (view.lastMessage?.content.startsWith('alpha beta ')) caughtUp.resolve();
      if (ended(view)) done.resolve();
    });
    if (second.lastMessage?.content.startsWith('alpha beta ')) caughtUp.resolve();
    await caughtUp.promise; // the provider is still paused: only the replay can bring these
    gate.resolve();
    await done.promise;
    second.close();
    expect(second.lastMessage?.content).toBe('alpha beta gamma delta.');
    expect(second.lastMessage?.content).toBe(await storedReply(threadId));
    expect(second.error).toBeNull();
  });

  it('a send retried with its idempotency key is one message and one run', async () => {
    const threadId = await client.createThread('retried');
    const before = fake.requests.length;
    const a = await client.send(threadId, 'once', 'example-key-1');
    const b = await client.send(threadId, 'once', 'example-key-1');
    expect(b.runId).toBe(a.runId);
    await fake.waitForRequests(before + 1);
    const thread = await server.gql(THREAD, { id: threadId });
    expect(thread.data.thread.messages.edges.filter((e: any) => e.node.content === 'once')).toHaveLength(1);
  });

  it('examples/client/main.ts runs as people would run it', async () => {
    // Paced so the run outlasts the example's own start-up between its send and its view, even on a loaded machine.
    fake.setDefault({ chunks: ['one ', 'two ', 'three ', 'four ', 'five ', 'six'], paceMs: 100 });
    const run = spawnProcess({ env: { THREADQL_URL: server.url }, command: [process.execPath, '--import', 'tsx', 'examples/client/main.ts', 'Count'] });
    const exit = await run.exited;
    fake.setDefault({});
    expect(exit.code, run.output()).toBe(0);
    expect(run.output()).toContain('COMPLETED: one two three four five six');
    expect(run.output()).toContain('reloading at seq');
  });
});
