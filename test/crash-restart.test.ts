import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { applyEvents, onPostgres, removeTempDirs, subscribeSse, tempDatabaseFile, TEST_API_KEY, waitUntil, type EventData } from './helpers.js';
import { THREAD_EVENTS } from './operations.js';
import { spawnServer as spawnChild } from './process-helpers.js';

/** The real entry point in a child process, so it can be killed with SIGKILL mid-stream. */
async function spawnServer(databaseFile: string, provider: FakeProvider): Promise<{ child: ChildProcess; url: string }> {
  return spawnChild({
    // The same INSTANCE_ID: the restarted server is the same instance, so on PostgreSQL it takes its dead runs over at once.
    env: { DATABASE_URL: databaseFile, OPENAI_BASE_URL: provider.url, OPENAI_API_KEY: TEST_API_KEY, FLUSH_INTERVAL_MS: '20', INSTANCE_ID: 'restarted' },
  });
}

async function gql(url: string, query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const THREAD = /* GraphQL */ `
  query ($id: ID!) {
    thread(id: $id) {
      lastEventSeq
      messages(first: 100) { edges { node { id role content status } } }
      runs(first: 100) { edges { node { id status error { code } } } }
    }
  }
`;

describe('a server killed with SIGKILL in the middle of a streaming run', () => {
  let fake: FakeProvider;
  const databaseFile = tempDatabaseFile();
  let first: { child: ChildProcess; url: string };
  let second: { child: ChildProcess; url: string } | undefined;
  let streamingThread: string;
  let queuedThread: string;
  let queuedRunId: string;

  beforeAll(async () => {
    fake = await startFakeProvider();
    first = await spawnServer(databaseFile, fake);

    // Thread A streams slowly; thread B has a run held mid-stream and a second run queued behind it.
    const chunks = Array.from({ length: 400 }, (_, i) => `word${i} `);
    fake.enqueue({ chunks, paceMs: 10 });
    const a = await gql(first.url, `mutation { createThread(input: { messages: [{ role: USER, content: "Tell me a long story" }] }) { thread { id } } }`);
    streamingThread = a.createThread.thread.id;
    await fake.waitForRequests(1);

    fake.enqueue({ chunks: ['held ', 'forever '], stallAfter: 1 });
    const b = await gql(first.url, `mutation { createThread(input: { messages: [{ role: USER, content: "First on B" }] }) { thread { id } } }`);
    queuedThread = b.createThread.thread.id;
    await fake.waitForRequests(2);
    const queued = await gql(
      first.url,
      `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "Second on B", onActiveRun: ENQUEUE }) { run { id status } } }`,
      { t: queuedThread },
    );
    queuedRunId = queued.sendMessage.run.id;
    expect(queued.sendMessage.run.status).toBe('QUEUED');

    // Kill once part of A's reply has been stored.
    await waitUntil(
      async () => {
        const data = await gql(first.url, THREAD, { id: streamingThread });
        return data.thread.messages.edges.some((e: any) => e.node.role === 'ASSISTANT' && e.node.content.length > 50);
      },
      'a stored partial reply',
      10_000,
    );
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    fake.reset();
    fake.setDefault({ text: 'Answer after the restart.' });
  });

  afterAll(async () => {
    second?.child.kill('SIGKILL');
    await fake.close();
    removeTempDirs();
  });

  // SQLite only: PostgreSQL's own WAL recovery keeps its files consistent; there is no per-database check to run.
  it.skipIf(onPostgres)('leaves a database that passes PRAGMA integrity_check', () => {
    const db = new Database(databaseFile, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('on restart: the user message is kept, the partial reply is INCOMPLETE, the run FAILED with SERVER_RESTARTED', async () => {
    second = await spawnServer(databaseFile, fake);
    const { thread } = await gql(second.url, THREAD, { id: streamingThread });
    const messages = thread.messages.edges.map((e: any) => e.node);
    expect(messages[0]).toMatchObject({ role: 'USER', content: 'Tell me a long story', status: 'COMPLETED' });
    expect(messages[1].role).toBe('ASSISTANT');
    expect(messages[1].status).toBe('INCOMPLETE');
    expect(messages[1].content).toMatch(/^word0 word1 /);
    expect(thread.runs.edges[0].node).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_RESTARTED' } });
  });

  it('starts the queued run on the other thread again, and no run stays QUEUED or IN_PROGRESS', async () => {
    const run = await waitUntil(
      async () => {
        const data = await gql(second!.url, `query ($id: ID!) { run(id: $id) { status reply { content } } }`, { id: queuedRunId });
        return data.run.status === 'COMPLETED' && data.run;
      },
      'the queued run to complete',
      10_000,
    );
    expect(run.reply.content).toBe('Answer after the restart.');
    for (const threadId of [streamingThread, queuedThread]) {
      const { thread } = await gql(second!.url, THREAD, { id: threadId });
      for (const edge of thread.runs.edges) expect(['COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE']).toContain(edge.node.status);
      for (const edge of thread.messages.edges) expect(edge.node.status).not.toBe('IN_PROGRESS');
    }
    const held = (await gql(second!.url, THREAD, { id: queuedThread })).thread.runs.edges[0].node;
    expect(held).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_RESTARTED' } });
  });

  it('replays events that rebuild exactly the stored content, with strictly increasing seq', async () => {
    const { thread } = await gql(second!.url, THREAD, { id: streamingThread });
    const sub = subscribeSse(second!.url, THREAD_EVENTS, { threadId: streamingThread, after: 0 });
    await waitUntil(
      () => {
        const events = sub.results.map((r) => r.data.threadEvents as EventData);
        return events.at(-1)?.seq === thread.lastEventSeq;
      },
      'the replay',
      10_000,
    );
    sub.close();
    const events = sub.results.map((r) => r.data.threadEvents as EventData);
    for (let i = 1; i < events.length; i++) expect(events[i]!.seq).toBeGreaterThan(events[i - 1]!.seq);
    const rebuilt = applyEvents(events);
    for (const edge of thread.messages.edges) expect(rebuilt.get(edge.node.id)).toBe(edge.node.content);
  });
});
