import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeProvider } from './fake-provider.js';
import { deferred, endedRun, subscribeSse, newThread, NO_RATE_LIMIT, ok, rawSql, sendMessage, startWithFakeProvider, stopWithFakeProvider, waitUntil, within, type TestServer } from './helpers.js';
import { CommitUnknownError } from '../src/store/errors.js';
import type { Store } from '../src/store/types.js';
import { THREAD_EVENTS } from './operations.js';
import { rawSqlite } from './storage-faults-helpers.js';
import { isTerminalOf } from './stream-helpers.js';
import { received, subscribe, waitForEvent } from './stream-helpers.js';
import { TOOL_RUN, WEATHER } from './tools-helpers.js';

/**
 * Writes the database refuses for good (not an outage that passes). A model that emits U+0000 (PostgreSQL refuses NUL in text): the character reaches every
 * subscriber and the database as U+FFFD, and the run ends normally on both backends (before
 * the fix, PostgreSQL refused the reply and the run stayed IN_PROGRESS for good).
 */

const SEND_AND_WAIT = /* GraphQL */ `
  mutation ($input: SendMessageInput!) {
    sendMessage(input: $input) { run { id } reply { id content refusal status run { status error { code } } } }
  }
`;
const MESSAGES = /* GraphQL */ `
  query ($id: ID!) { thread(id: $id) { messages(first: 10) { edges { node { role content refusal status } } } } }
`;
const THREAD_DELTAS = /* GraphQL */ `
  subscription ($threadId: ID!, $after: Int) { threadEvents(threadId: $threadId, after: $after) { __typename seq ... on MessageDeltaEvent { delta } ... on RunStatusEvent { run { status } } } }
`;

describe('NUL characters from the model', () => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  it('a delta and a refusal with U+0000: COMPLETED, stored and streamed with U+FFFD', async () => {
    fake.setDefault({ chunks: ['Nul \u0000here ', 'and\u0000\u0000 there.'], refusal: ['no\u0000pe'] });
    const threadId = await newThread(server);
    const sub = subscribe('sse', server.url, THREAD_DELTAS, { threadId, after: 0 });
    const { sendMessage } = await within(ok(server, SEND_AND_WAIT, { input: { threadId, content: 'Say a NUL.' } }), 10_000, 'the run to end');
    const text = 'Nul \uFFFDhere and\uFFFD\uFFFD there.';
    expect(sendMessage.reply).toMatchObject({ content: text, refusal: 'no\uFFFDpe', status: 'COMPLETED', run: { status: 'COMPLETED', error: null } });

    const { thread } = await ok(server, MESSAGES, { id: threadId });
    expect(thread.messages.edges.at(-1).node).toEqual({ role: 'ASSISTANT', content: text, refusal: 'no\uFFFDpe', status: 'COMPLETED' });
    await waitForEvent(sub, 'threadEvents', (e) => e.__typename === 'RunStatusEvent' && e.run?.status === 'COMPLETED');
    const deltas = received(sub, 'threadEvents').filter((e) => e.__typename === 'MessageDeltaEvent');
    expect(deltas.map((e) => e.delta).join('')).toBe(text);
    sub.close();
  });

  it('tool-call arguments with U+0000: the run waits for outputs with U+FFFD in them', async () => {
    fake.setDefault({ toolCalls: [{ name: 'get_weather', arguments: ['{"city":"Pa', '\u0000ris"}'] }] });
    const threadId = await newThread(server);
    const { sendMessage } = await within(ok(server, SEND_AND_WAIT, { input: { threadId, content: 'Weather?', tools: [WEATHER] } }), 10_000, 'the run to wait');
    const { run } = await ok(server, TOOL_RUN, { id: sendMessage.run.id });
    expect(run.status).toBe('REQUIRES_ACTION');
    expect(run.requiredAction.toolCalls).toEqual([expect.objectContaining({ name: 'get_weather', arguments: '{"city":"Pa\uFFFDris"}' })]);
  });
});

/**
 * Makes the database refuse, with an error that is not a refusal it might lift later (an
 * "unexpected" one: SQLite: a JS exception from a function; PostgreSQL: SQLSTATE XX000), the
 * update that ends this run COMPLETED.
 */
async function refuseCompletion(server: TestServer, runId: string): Promise<void> {
  if (server.services.store.kind === 'postgres') {
    await rawSql(
      server,
      `create function refuse_completion() returns trigger language plpgsql as $$
         begin raise exception 'injected: not a refusal' using errcode = 'XX000'; end $$;
       create trigger refuse_completion before update on runs for each row
         when (new.id = '${runId}' and new.status = 'COMPLETED') execute function refuse_completion();`,
    );
    return;
  }
  const db = rawSqlite(server);
  db.function('refuse_completion', () => {
    throw new Error('injected: not a refusal');
  });
  // One connection: DDL inside one of the server's transactions would become part of it.
  while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
  db.exec(`CREATE TRIGGER refuse_completion BEFORE UPDATE ON runs FOR EACH ROW
    WHEN NEW.id = '${runId}' AND NEW.status = 'COMPLETED' BEGIN SELECT refuse_completion(); END;`);
}

describe('a run end the database refuses for good', () => {
  let fake: FakeProvider;
  let server: TestServer;

  // A short lease: the run whose end cannot be stored is ended by the reaper once its lease lapses.
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, LEASE_TTL_MS: '600' } })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('ends FAILED once its lease lapses (not IN_PROGRESS for good), and the queued run after it runs', async () => {
    const gate = deferred();
    fake.enqueue({ chunks: ['Never ', 'stored.'], pauseAfter: 1, resumeWhen: gate.promise }, { text: 'Next answer.' });
    const threadId = await newThread(server);
    const first = await sendMessage(server, { threadId, content: 'First.' });
    await refuseCompletion(server, first.run.id);
    const second = await sendMessage(server, { threadId, content: 'Second.', onActiveRun: 'ENQUEUE' });
    expect(second.run.status).toBe('QUEUED');
    gate.resolve();

    const ended = await within(endedRun(server, first.run.id), 10_000, 'the first run to end');
    expect(ended).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_RESTARTED' } });
    const next = await within(endedRun(server, second.run.id), 10_000, 'the queued run to end');
    expect(next.status).toBe('COMPLETED');
  });
});

/**
 * The next transaction that stores streamed text alone (a flush) commits, then throws as a COMMIT
 * whose reply was lost does (CommitUnknownError): stored, but the writer cannot know it.
 */
function loseNextFlushReply(server: TestServer): Promise<void> {
  const store = server.services.store;
  // The store is wrapped (metrics); its own transaction is the wrapped object's property.
  const real = Object.getOwnPropertyDescriptor(store, 'transaction')!.value as Store['transaction'];
  let armed = true;
  return new Promise((resolve) => {
    (store as { transaction: Store['transaction'] }).transaction = async (work) => {
      if (!armed) return real(work);
      const kinds: string[] = [];
      const result = await real((tx) => work({ ...tx, insertEvents: (events, at) => (kinds.push(...events.map((e) => e.kind)), tx.insertEvents(events, at)) }));
      if (kinds.length === 0 || kinds.some((k) => k !== 'MESSAGE_DELTA')) return result;
      armed = false;
      resolve();
      throw new CommitUnknownError('injected: the reply to COMMIT was lost');
    };
  });
}

describe('a COMMIT whose reply is lost', () => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, LEASE_TTL_MS: '600' } })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('is not stored again: the writer stops publishing, and every seq a subscriber saw is the stored one', async () => {
    const lost = loseNextFlushReply(server);
    fake.enqueue({ chunks: Array.from({ length: 12 }, (_, i) => `w${i} `), paceMs: 30 });
    const threadId = await newThread(server);
    const live = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
    const { run } = await sendMessage(server, { threadId, content: 'Stream.' });
    await within(lost, 10_000, 'a flush whose COMMIT reply is lost');

    const ended = await within(endedRun(server, run.id), 10_000, 'the run to end');
    // The lease was given up at once: the reaper ended the run once it lapsed.
    expect(ended).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_RESTARTED' } });
    await live.waitFor(1);
    await waitUntil(() => live.results.some((r) => isTerminalOf(run.id)(r.data?.threadEvents)), 'the live end', 5000);
    const replay = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
    await waitUntil(() => replay.results.some((r) => isTerminalOf(run.id)(r.data?.threadEvents)), 'the replayed end', 5000);
    const view = (sub: typeof live) => sub.results.map((r) => r.data?.threadEvents).map((e) => ({ seq: e.seq, type: e.__typename, delta: e.delta }));
    expect(view(live)).toEqual(view(replay));
    expect(view(live).filter((e) => e.type === 'MessageDeltaEvent').length).toBeGreaterThan(0);
    live.close();
    replay.close();
  });
});
