import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/auth/keys.js';
import { post } from './auth-helpers.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import {
  applyEvents,
  codeOf,
  conversationOf,
  deferred,
  endedRun,
  newThread,
  onPostgres,
  postMultipart,
  queryDatabase,
  rawSql,
  removeTempDirs,
  runOf,
  sendMessage,
  subscribeSse,
  threadOf,
  waitUntil,
  within,
  type EventData,
  type Subscription,
} from './helpers.js';
import { CREATE_THREAD, SEND, THREAD_EVENTS } from './operations.js';
import { fillDisk, freeDisk, mountTmpfs, rawSqlite, startFaultServer, unmountTmpfs, WriteFault, type FaultServer } from './storage-faults-helpers.js';
import { expectContiguous, isTerminalOf, liveSubscriber, manyChunks, received, runEvents, send, waitForEvent } from './stream-helpers.js';

/**
 * Run endings survive storage faults (a refusing trigger stands for a failing disk; a small
 * tmpfs is a real full one): a run whose end cannot be stored stays IN_PROGRESS with its
 * thread busy until the end lands, a refused write is STORAGE_ERROR (never PROVIDER_ERROR,
 * never an internal error), nothing stored is lost or half-written, and the thread takes the
 * next message once the disk has room.
 */

const SEND_DEFER = /* GraphQL */ `
  mutation SendDefer($input: SendMessageInput!) {
    sendMessage(input: $input) {
      message { id }
      run { id }
      ... @defer { reply { id content status run { id status error { code } } } }
    }
  }
`;

const deltasOf = (sub: Subscription, runId: string) =>
  received(sub, 'threadEvents').filter((e) => e.__typename === 'MessageDeltaEvent' && e.runId === runId);

/** Waits until `count` deltas of the thread's (first) run have arrived; returns that run's id. */
async function waitForDeltas(sub: Subscription, count: number): Promise<string> {
  let seen = 0;
  const index = await waitForEvent(sub, 'threadEvents', (e) => e.__typename === 'MessageDeltaEvent' && ++seen === count);
  return received(sub, 'threadEvents')[index]!.runId!;
}

/** What the database holds: stored rows, read on the server's own connection. */
const storedDeltaCount = async (server: FaultServer, threadId: string) =>
  (await rawSql<{ n: number }>(server, `select count(*)::int as n from events where thread_id = ? and type = 'MESSAGE_DELTA'`, [threadId]))[0]!.n;

/** The thread's stored events from the start, as a reloading client replays them. */
async function replayStored(server: FaultServer, threadId: string, lastEventSeq: number): Promise<EventData[]> {
  const sub = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
  await waitForEvent(sub, 'threadEvents', (e) => e.seq === lastEventSeq);
  sub.close();
  return received(sub, 'threadEvents');
}

/** Replays every stored event (none missing); returns the content they rebuild. */
async function replayedContents(server: FaultServer, threadId: string, lastEventSeq: number): Promise<Map<string, string>> {
  const events = await replayStored(server, threadId, lastEventSeq);
  expectContiguous(events);
  expect(events[0]!.seq).toBe(1);
  return applyEvents(events);
}

/** Stored contents equal what the live subscriber saw, and what replaying the stored events rebuilds. */
async function expectNothingLost(server: FaultServer, threadId: string, live: Subscription): Promise<void> {
  const thread = await threadOf(server, threadId);
  const stored = new Map(thread.messages.map((m) => [m.id, m.content] as [string, string]));
  const seen = received(live, 'threadEvents');
  expectContiguous(seen);
  expect(applyEvents(seen)).toEqual(stored);
  expect(await replayedContents(server, threadId, thread.lastEventSeq)).toEqual(stored);
}

describe('refused writes (a trigger stands for the failing disk)', () => {
  let fake: FakeProvider;
  let server: FaultServer;
  const resumes: (() => void)[] = [];
  const faults: WriteFault[] = [];
  const subs: Subscription[] = [];

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startFaultServer({ provider: fake });
  });
  afterAll(async () => {
    for (const resume of resumes) resume();
    for (const sub of subs) sub.close();
    await server.stop();
    await fake.close();
    removeTempDirs();
  });
  beforeEach(async () => {
    for (const fault of faults.splice(0)) await fault.lift();
    fake.reset();
  });

  const pausePoint = () => {
    const d = deferred();
    resumes.push(d.resolve);
    return d;
  };
  const refuse = async (fence: Parameters<typeof WriteFault.install>[1]) => {
    const fault = await WriteFault.install(server, fence);
    faults.push(fault);
    return fault;
  };
  const live = async (threadId: string) => {
    const sub = await liveSubscriber('sse', server, threadId);
    subs.push(sub);
    return sub;
  };

  it('a refused final write keeps the run IN_PROGRESS and its thread busy; when it lands, waiters get the end and the queued run runs', async () => {
    const chunks = manyChunks(12, 'end');
    const gate = pausePoint();
    fake.enqueue({ chunks, pauseAfter: 3, resumeWhen: gate.promise }, { text: 'The queued answer.' });
    const threadId = await newThread(server);
    const watch = await live(threadId);
    let replied = false;
    const waiter = postMultipart(server.url, SEND_DEFER, { input: { threadId, content: 'First question' } });
    void waiter.finally(() => (replied = true));
    const runId = await waitForDeltas(watch, 3);

    // Every UPDATE of runs is refused from here: the run's end cannot be stored.
    const fault = await refuse({ table: 'runs', op: 'UPDATE' });
    const runSub = runEvents('sse', server, runId);
    subs.push(runSub);
    await runSub.waitFor(2); // its snapshot (reply so far, status): it is subscribed
    gate.resolve();
    // The end was refused, and tried again: the engine is retrying.
    await fault.waitForAttempts(2, 10_000);

    expect(await runOf(server, runId)).toMatchObject({ status: 'IN_PROGRESS', completedAt: null, error: null });
    const busy = await server.gql(SEND, { input: { threadId, content: 'Am I busy?' } });
    expect(codeOf(busy)).toBe('THREAD_BUSY');
    expect(busy.errors![0]!.extensions!.activeRunId).toBe(runId);
    const queued = (await sendMessage(server, { threadId, content: 'Queued question', onActiveRun: 'ENQUEUE' })).run;
    expect(queued.status).toBe('QUEUED');
    const thread = await threadOf(server, threadId);
    expect(thread.activeRun).toEqual({ id: runId, status: 'IN_PROGRESS' });
    expect(thread.runs).toEqual([
      { id: runId, status: 'IN_PROGRESS' },
      { id: queued.id, status: 'QUEUED' },
    ]);
    // No second run executes beside it, and nobody was told it ended.
    expect(fake.requests).toHaveLength(1);
    expect(replied).toBe(false);
    expect(received(runSub, 'runEvents').some(isTerminalOf(runId))).toBe(false);
    // Every delta was published (and stored: only the runs table refuses).
    expect(deltasOf(watch, runId).map((e) => e.delta).join('')).toBe(chunks.join(''));

    await fault.lift();
    const { parts } = await within(waiter, 10_000, 'the deferred reply once the end is stored');
    const reply = parts.slice(1).flatMap((p) => p.incremental ?? [])[0].data.reply;
    expect(reply).toMatchObject({ content: chunks.join(''), status: 'COMPLETED', run: { id: runId, status: 'COMPLETED', error: null } });
    await within(runSub.completed, 5000, 'runEvents ends with the terminal status');
    const runStream = received(runSub, 'runEvents');
    expect(runStream.at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { id: runId, status: 'COMPLETED' } });
    expect(applyEvents(runStream).get(reply.id)).toBe(chunks.join(''));
    expect(await runOf(server, runId)).toMatchObject({ status: 'COMPLETED', error: null, reply: { content: chunks.join(''), status: 'COMPLETED' } });

    // Then, and only then, the queued run starts; it sees the whole first reply.
    expect(await endedRun(server, queued.id)).toMatchObject({ status: 'COMPLETED', reply: { content: 'The queued answer.', status: 'COMPLETED' } });
    expect(fake.requests).toHaveLength(2);
    expect(conversationOf(fake.requests[1]!)).toEqual([
      { role: 'user', content: 'First question' },
      { role: 'assistant', content: chunks.join('') },
      { role: 'user', content: 'Queued question' },
    ]);
    await waitForEvent(watch, 'threadEvents', isTerminalOf(queued.id));
    await expectNothingLost(server, threadId, watch);
  });

  it('a reply that cannot be stored ends the run FAILED with STORAGE_ERROR (not PROVIDER_ERROR); the question is kept and the thread takes the next one', async () => {
    // The stream stalls after one chunk: only giving up the provider request ends this run.
    fake.enqueue({ chunks: ['Lost ', 'words.'], stallAfter: 1 }, { text: 'Stored this time.' });
    const threadId = await newThread(server);
    const watch = await live(threadId);
    const fault = await refuse({ table: 'messages', op: 'INSERT', when: "NEW.role = 'ASSISTANT'" });
    const { run } = await sendMessage(server, { threadId, content: 'Will my answer be stored?' });

    const ended = await within(endedRun(server, run.id), 5000, 'the run ends');
    expect(ended).toMatchObject({ status: 'FAILED', error: { code: 'STORAGE_ERROR' }, reply: null });
    expect(ended.error.message).toMatch(/database refused/);
    expect(await fault.attempts()).toBe(1);
    await fake.waitForAborted(1);
    await waitForEvent(watch, 'threadEvents', isTerminalOf(run.id));
    // Nothing of a reply that does not exist was published.
    expect(deltasOf(watch, run.id)).toEqual([]);
    expect((await threadOf(server, threadId)).messages.map((m) => [m.role, m.content, m.status])).toEqual([['USER', 'Will my answer be stored?', 'COMPLETED']]);

    await fault.lift();
    const next = await send(server, threadId, 'Try again', { waitForReply: true });
    expect(await runOf(server, next.runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Stored this time.', status: 'COMPLETED' } });
    expect(conversationOf(fake.requests[1]!)).toEqual([
      { role: 'user', content: 'Will my answer be stored?' },
      { role: 'user', content: 'Try again' },
    ]);
    await expectNothingLost(server, threadId, watch);
  });

  it("one thread's refused events hold up neither another thread's flushes nor its run; the faulty run ends STORAGE_ERROR with what was published", async () => {
    // More deltas than may wait unstored (MAX_UNSTORED_DELTAS, 1024), on both threads.
    const chunksA = manyChunks(1100, 'a');
    const chunksB = manyChunks(1500, 'b');
    const gate = pausePoint();
    fake.enqueue({ chunks: chunksA, pauseAfter: 2, resumeWhen: gate.promise }, { chunks: chunksB });
    const threadA = await newThread(server);
    const threadB = await newThread(server);
    const watchA = await live(threadA);
    const watchB = await live(threadB);
    const { run: runA } = await sendMessage(server, { threadId: threadA, content: 'Thread A' });
    await waitForDeltas(watchA, 2);
    await waitUntil(async () => (await storedDeltaCount(server, threadA)) === 2, "thread A's first deltas are stored");

    const fault = await refuse({ table: 'events', op: 'INSERT', when: `NEW.thread_id = '${threadA}'` });
    gate.resolve();
    // A's deltas pile up unstored until the run is refused more; then its end is refused, and retried.
    await server.logs.waitFor(`could not store the end of run ${runA.id}; retrying`, 2, 10_000);

    // Meanwhile B streams more deltas than may wait unstored: it completes only if its flushes go through.
    const { run: runB } = await sendMessage(server, { threadId: threadB, content: 'Thread B' });
    const endedB = await within(endedRun(server, runB.id), 10_000, 'run B ends');
    expect({ status: endedB.status, error: endedB.error }).toEqual({ status: 'COMPLETED', error: null });
    expect(endedB.reply).toEqual({ id: expect.any(String), content: chunksB.join(''), status: 'COMPLETED' });
    await waitForEvent(watchB, 'threadEvents', isTerminalOf(runB.id));
    await expectNothingLost(server, threadB, watchB);

    // A still waits for its end to be stored.
    expect(await runOf(server, runA.id)).toMatchObject({ status: 'IN_PROGRESS' });
    await fault.lift();
    const endedA = await within(endedRun(server, runA.id), 10_000, 'run A ends once its events can be stored');
    expect(endedA).toMatchObject({ status: 'FAILED', error: { code: 'STORAGE_ERROR' }, reply: { status: 'INCOMPLETE' } });
    await waitForEvent(watchA, 'threadEvents', isTerminalOf(runA.id));
    // Its reply is exactly what was published: the 2 stored deltas and the 1024 that waited.
    const published = deltasOf(watchA, runA.id).map((e) => e.delta);
    expect(published).toEqual(chunksA.slice(0, 2 + 1024));
    expect(endedA.reply.content).toBe(published.join(''));
    await expectNothingLost(server, threadA, watchA);

    const next = await send(server, threadA, 'Thread A again', { waitForReply: true });
    expect(await runOf(server, next.runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Hello from the fake provider.' } });
  });

  it('createThread and sendMessage on a refusing database answer STORAGE_ERROR (HTTP 200, retryable) and store nothing', async () => {
    const count = async (table: string) => (await rawSql<{ n: number }>(server, `select count(*)::int as n from ${table}`))[0]!.n;
    const counts = async () => ({ threads: await count('threads'), messages: await count('messages'), runs: await count('runs'), events: await count('events') });
    const before = await counts();

    // The message insert is refused after the thread's own insert, in the same transaction.
    const fault = await refuse({ table: 'messages', op: 'INSERT' });
    const created = await post(server.url, null, CREATE_THREAD, { input: { title: 'Refused', messages: [{ role: 'USER', content: 'Hello?' }] } });
    expect(created.status).toBe(200);
    expect(created.body.data).toEqual({ createThread: null });
    expect(created.body.errors).toHaveLength(1);
    expect(created.body.errors[0]).toMatchObject({
      message: 'The database refused the write (for example, the disk is full); nothing was stored. Retry later.',
      extensions: { code: 'STORAGE_ERROR', retryable: true },
    });
    expect(JSON.stringify(created.body)).not.toMatch(/injected|SQLITE|INTERNAL_SERVER_ERROR/);
    expect(await fault.attempts()).toBe(1);

    await fault.lift();
    const threadId = await newThread(server);
    const watch = await live(threadId);
    const afterThread = await counts();
    expect(afterThread).toEqual({ ...before, threads: before.threads + 1 });

    // The thread's counter refuses: the message and run inserts are rolled back with it.
    const again = await refuse({ table: 'threads', op: 'UPDATE' });
    const sent = await post(server.url, null, SEND, { input: { threadId, content: 'Are you there?' } });
    expect(sent.status).toBe(200);
    expect(sent.body.errors[0].extensions).toEqual({ code: 'STORAGE_ERROR', retryable: true });
    expect(await again.attempts()).toBeGreaterThanOrEqual(1);
    expect(await counts()).toEqual(afterThread);
    expect(await threadOf(server, threadId)).toMatchObject({ lastEventSeq: 0, activeRun: null, messages: [], runs: [] });
    expect(fake.requests).toHaveLength(0);

    await again.lift();
    const retried = await send(server, threadId, 'Are you there?', { waitForReply: true });
    expect(await runOf(server, retried.runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'Hello from the fake provider.' } });
    await waitForEvent(watch, 'threadEvents', isTerminalOf(retried.runId));
    // The refused attempt allocated no seq: the thread's events start at 1.
    expect(received(watch, 'threadEvents')[0]!.seq).toBe(1);
    await expectNothingLost(server, threadId, watch);
  });
});

// SQLite only: the database file lives on the tmpfs. PostgreSQL's disk is the shared server's (filling
// it would fail every other database on it); its refusals are covered by the trigger faults above.
describe.skipIf(onPostgres)('a real full disk (a 4 MB tmpfs)', () => {
  let mounted: { dir: string } | { reason: string };
  let dir = '';
  let fake: FakeProvider;
  let server: FaultServer;
  let filler: string | null = null;
  const resumes: (() => void)[] = [];

  beforeAll(async () => {
    // Mounted here, not at import: a filtered run (-t) that skips this block mounts nothing.
    mounted = mountTmpfs(4);
    if (!('dir' in mounted)) return;
    dir = mounted.dir;
    fake = await startFakeProvider();
    server = await startFaultServer({ provider: fake, databaseFile: join(dir, 'full.db') });
  });
  afterAll(async () => {
    for (const resume of resumes) resume();
    if (filler) freeDisk(filler);
    await server?.stop();
    await fake?.close();
    if (dir) unmountTmpfs(dir);
  });

  it('a run does not complete while the disk is full, requests answer STORAGE_ERROR, and once space is freed the run ends and the thread answers again', async (ctx) => {
    if ('reason' in mounted) return ctx.skip(mounted.reason);
    const chunks = manyChunks(400, 'disk');
    const gate = deferred();
    resumes.push(gate.resolve);
    fake.enqueue({ chunks, pauseAfter: 5, resumeWhen: gate.promise }, { text: 'After the disk was freed.' });
    const threadId = await newThread(server);
    const watch = await liveSubscriber('sse', server, threadId);
    const { run } = await sendMessage(server, { threadId, content: 'Fill the disk' });
    await waitForDeltas(watch, 5);

    // The WAL is emptied (so every later write must grow a file), then the disk filled to the last byte.
    const db = rawSqlite(server);
    await waitUntil(() => !db.inTransaction, 'no transaction is open');
    db.pragma('wal_checkpoint(TRUNCATE)');
    filler = fillDisk(dir);
    const refused = await server.gql(CREATE_THREAD, { input: { title: 'No room' } });
    expect(refused.errors?.[0]?.extensions).toEqual({ code: 'STORAGE_ERROR', retryable: true });

    gate.resolve();
    // The stream ends; its end is refused (SQLITE_FULL) and retried.
    await server.logs.waitFor(`could not store the end of run ${run.id}; retrying`, 2, 10_000);
    expect(server.logs.lines.some((l) => JSON.stringify(l.err ?? '').includes('SQLITE_FULL'))).toBe(true);
    expect(await runOf(server, run.id)).toMatchObject({ status: 'IN_PROGRESS', completedAt: null });
    expect(codeOf(await server.gql(SEND, { input: { threadId, content: 'Busy?' } }))).toBe('THREAD_BUSY');
    expect(deltasOf(watch, run.id).map((e) => e.delta).join('')).toBe(chunks.join(''));

    freeDisk(filler);
    filler = null;
    // Fewer deltas than may wait unstored: nothing was refused but the writes, so the run completes.
    const ended = await within(endedRun(server, run.id), 10_000, 'the run ends once the disk has room');
    expect(ended).toMatchObject({ status: 'COMPLETED', error: null, reply: { content: chunks.join(''), status: 'COMPLETED' } });
    await waitForEvent(watch, 'threadEvents', isTerminalOf(run.id));

    const next = await send(server, threadId, 'And now?', { waitForReply: true });
    expect(await runOf(server, next.runId)).toMatchObject({ status: 'COMPLETED', reply: { content: 'After the disk was freed.' } });
    await waitForEvent(watch, 'threadEvents', isTerminalOf(next.runId));
    await expectNothingLost(server, threadId, watch);
    watch.close();
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(existsSync(join(dir, 'full.db'))).toBe(true);
  });
});

describe('background timers', () => {
  it('a failing revocation sweep neither crashes the server nor ends the subscription; the sweep works again afterwards', async () => {
    const server = await startFaultServer();
    try {
      const { key, row } = await createApiKey(server.services.store.keys, 'alice');
      const created = await post(server.url, key, CREATE_THREAD, { input: {} });
      const threadId = created.body.data.createThread.thread.id as string;
      const sub = subscribeSse(server.url, THREAD_EVENTS, { threadId }, key);
      await waitUntil(() => server.services.events.openCount() === 1, 'the subscription is open');

      // The keys table is gone for a moment: every sweep fails.
      await rawSql(server, 'ALTER TABLE api_keys RENAME TO api_keys_away');
      await server.logs.waitFor('could not check for revoked keys', 2);
      await rawSql(server, 'ALTER TABLE api_keys_away RENAME TO api_keys');

      expect(server.services.events.openCount()).toBe(1);
      const answered = await post(server.url, key, `query { threads(first: 5) { edges { node { id } } } }`);
      expect(answered.status).toBe(200);
      expect(answered.body.data.threads.edges).toEqual([{ node: { id: threadId } }]);
      // The sweep still ends a revoked key's subscription.
      await revokeApiKey(server.services.store.keys, row.id);
      await within(sub.completed, 5000, 'the revoked key ends its subscription');
    } finally {
      await server.stop();
      removeTempDirs();
    }
  });

  it('compaction is off the start-up path: the server answers before it has touched anything, then it removes old deltas in batches', async () => {
    const chunks = manyChunks(2100, 'old');
    const fake = await startFakeProvider();
    const first = await startFaultServer({ provider: fake });
    const databaseFile = first.databaseFile;
    let threadId = '';
    try {
      fake.enqueue({ chunks });
      threadId = await newThread(first);
      const sent = await send(first, threadId, 'Tell me everything', { waitForReply: true });
      expect((await runOf(first, sent.runId)).reply.content).toBe(chunks.join(''));
    } finally {
      await first.stop();
      await fake.close();
    }
    expect(await queryDatabase(databaseFile, `select count(*)::int as n from events where thread_id = ? and type = 'MESSAGE_DELTA'`, [threadId])).toEqual([
      { n: chunks.length },
    ]);
    // Older than the retention window (24 h): due for compaction, more than one batch (2000) of it.
    await queryDatabase(
      databaseFile,
      onPostgres ? `update events set created_at = created_at - interval '48 hours'` : 'update events set created_at = created_at - ?',
      onPostgres ? [] : [48 * 3_600_000],
    );

    const server = await startFaultServer({ databaseFile });
    try {
      // The server answers (a request has come and gone) before compaction has touched anything.
      const thread = await threadOf(server, threadId);
      expect(thread.messages.map((m) => m.content)).toEqual(['Tell me everything', chunks.join('')]);
      expect(await storedDeltaCount(server, threadId)).toBe(chunks.length);
      // It runs soon after, in batches, to the end of the backlog; the reply's final MessageEvent stands for the deltas.
      await waitUntil(async () => (await storedDeltaCount(server, threadId)) === 0, 'compaction removes the old deltas', 10_000);
      const replay = await replayStored(server, threadId, thread.lastEventSeq);
      expect(applyEvents(replay).get(thread.messages[1]!.id)).toBe(chunks.join(''));
      expect(server.logs.count('compaction failed')).toBe(0);
    } finally {
      await server.stop();
      removeTempDirs();
    }
  });
});
