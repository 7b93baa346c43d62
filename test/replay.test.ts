import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import {
  applyEvents,
  deferred,
  newThread,
  removeTempDirs,
  startTestServer,
  crashImageOf,
  onPostgres,
  queryDatabase,
  waitUntil,
  type EventData,
  type Subscription,
  type TestServer,
} from './helpers.js';
import {
  expectContiguous,
  expectStrictlyIncreasing,
  finishedThread,
  isTerminalOf,
  liveSubscriber,
  manyChunks,
  received,
  send,
  threadEvents,
  threadState,
  TRANSPORTS,
  waitForEvent,
  type Transport,
} from './stream-helpers.js';

/**
 * threadEvents over SSE and WebSocket: live only, replay from any seq, reload without loss,
 * exact replay (also after a restart and from what is stored) — api-contract.md invariants 1–4.
 */

const CHUNKS = manyChunks(40);
const REPLY = CHUNKS.join('');

/** The events one run adds to a thread, in order. */
function runShape(chunkCount: number): string[] {
  return [
    'MessageEvent:USER',
    'RunStatusEvent:QUEUED',
    'RunStatusEvent:IN_PROGRESS',
    'MessageEvent:ASSISTANT:IN_PROGRESS',
    ...Array.from({ length: chunkCount }, () => 'MessageDeltaEvent'),
    'MessageEvent:ASSISTANT:COMPLETED',
    'RunStatusEvent:COMPLETED',
  ];
}

function shape(e: EventData): string {
  if (e.__typename === 'RunStatusEvent') return `RunStatusEvent:${e.run!.status}`;
  if (e.__typename === 'MessageEvent') return e.message!.role === 'USER' ? 'MessageEvent:USER' : `MessageEvent:ASSISTANT:${e.message!.status}`;
  return 'MessageDeltaEvent';
}

/** Replays threadEvents(after) until `count` events arrived; the subscription is then closed. */
async function replay(transport: Transport, server: TestServer, threadId: string, after: number, count: number): Promise<EventData[]> {
  // Waiting for no event returns at once with whatever arrived, and compares nothing.
  expect(count, 'a replay must expect at least one event').toBeGreaterThan(0);
  const listeners = server.services.events.pubsub.listenerCount();
  const sub = threadEvents(transport, server, threadId, after);
  try {
    await sub.waitFor(count);
    return received(sub, 'threadEvents');
  } finally {
    sub.close();
    await waitUntil(() => server.services.events.pubsub.listenerCount() === listeners, 'the replay subscription is gone');
  }
}

describe.each(TRANSPORTS)('threadEvents over %s', (transport) => {
  let fake: FakeProvider;
  let server: TestServer;
  /** Stores deltas only on explicit flushes: pending (unstored) deltas at a chosen moment. */
  let slowFlush: TestServer;
  const open: Subscription[] = [];
  const track = (s: Subscription) => (open.push(s), s);

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake });
    slowFlush = await startTestServer({ provider: fake, env: { FLUSH_INTERVAL_MS: '60000' } });
  });
  beforeEach(async () => {
    fake.reset();
    for (const s of open.splice(0)) s.close();
    // Closing is asynchronous on the server: start every test with no listener left.
    const listeners = () => server.services.events.pubsub.listenerCount() + slowFlush.services.events.pubsub.listenerCount();
    await waitUntil(() => listeners() === 0, 'earlier subscriptions are gone');
  });
  afterAll(async () => {
    for (const s of open.splice(0)) s.close();
    await server.stop();
    await slowFlush.stop();
    await fake.close();
    removeTempDirs();
  });

  it('without after: live events only, nothing from before the subscription', async () => {
    fake.enqueue({ chunks: CHUNKS }, { chunks: manyChunks(40, 'two') });
    const { threadId } = await finishedThread(server);
    const before = await threadState(server, threadId);

    const sub = track(await liveSubscriber(transport, server, threadId));
    const { runId, messageId } = await send(server, threadId, 'Again, please.');
    await waitForEvent(sub, 'threadEvents', isTerminalOf(runId));
    const events = received(sub, 'threadEvents');

    expect(events[0]).toMatchObject({ __typename: 'MessageEvent', seq: before.lastEventSeq + 1, message: { id: messageId, role: 'USER' } });
    expect(events.every((e) => e.seq > before.lastEventSeq)).toBe(true);
    expectContiguous(events);
    expect(events.map(shape)).toEqual(runShape(40));
    const after = await threadState(server, threadId);
    expect(applyEvents(events, before.contents)).toEqual(after.contents);
  });

  it('after: 0 replays everything (every delta included) and then stays live', async () => {
    const second = manyChunks(40, 'second');
    fake.enqueue({ chunks: CHUNKS, paceMs: 1 }, { chunks: second, paceMs: 1 });
    const { threadId } = await finishedThread(server);
    const { runId: secondRunId } = await send(server, threadId, 'More!', { waitForReply: true });
    const stored = await threadState(server, threadId);
    expect(stored.messages.map((m) => m.content)).toEqual(['Hi!', REPLY, 'More!', second.join('')]);

    const sub = track(threadEvents(transport, server, threadId, 0));
    await waitForEvent(sub, 'threadEvents', isTerminalOf(secondRunId));
    const events = received(sub, 'threadEvents');
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: stored.lastEventSeq }, (_, i) => i + 1));
    expect(events.map(shape)).toEqual([...runShape(40), ...runShape(40)]);
    expect(events.filter((e) => e.__typename === 'MessageDeltaEvent').map((e) => e.delta)).toEqual([...CHUNKS, ...second]);
    expect(events.every((e) => e.threadId === threadId)).toBe(true);
    expect(applyEvents(events)).toEqual(stored.contents);

    // Replay hands over to live on the same subscription, without a gap.
    fake.enqueue({ chunks: ['still ', 'live'] });
    const { runId } = await send(server, threadId, 'Still there?');
    await waitForEvent(sub, 'threadEvents', isTerminalOf(runId));
    const all = received(sub, 'threadEvents');
    expectContiguous(all);
    expect(all.map(shape).slice(events.length)).toEqual(runShape(2));
    expect(applyEvents(all)).toEqual((await threadState(server, threadId)).contents);
  });

  it('replay is exact: threadEvents(after: N) equals what a live subscriber received after N', async () => {
    const resume = deferred();
    const PAUSE = 20;
    fake.enqueue({ chunks: CHUNKS, paceMs: 3, pauseAfter: PAUSE, resumeWhen: resume.promise });
    const threadId = await newThread(server);
    const live = track(await liveSubscriber(transport, server, threadId));
    const { runId } = await send(server, threadId, 'Stream, please.');
    await live.waitFor(4 + PAUSE);
    const midIndex = 4 + 10;
    const midSeq = received(live, 'threadEvents')[midIndex]!.seq;
    // Joins mid-stream: part replay, part live.
    const joiner = track(threadEvents(transport, server, threadId, midSeq));
    await joiner.waitFor(4 + PAUSE - (midIndex + 1));

    resume.resolve();
    await waitForEvent(live, 'threadEvents', isTerminalOf(runId));
    await waitForEvent(joiner, 'threadEvents', isTerminalOf(runId));
    const liveEvents = received(live, 'threadEvents');
    expect(liveEvents[0]!.seq).toBe(1);
    expectContiguous(liveEvents);
    expect(liveEvents.filter((e) => e.__typename === 'MessageDeltaEvent').map((e) => e.delta)).toEqual(CHUNKS);
    expect(received(joiner, 'threadEvents')).toEqual(liveEvents.filter((e) => e.seq > midSeq));

    const lastSeq = liveEvents.at(-1)!.seq;
    for (const n of [0, 3, midSeq, lastSeq - 2]) {
      const expected = liveEvents.filter((e) => e.seq > n);
      expect(await replay(transport, server, threadId, n, expected.length), `after: ${n}`).toEqual(expected);
    }
    expect((await threadState(server, threadId)).lastEventSeq).toBe(lastSeq);
  });

  it.each([
    [0, 'timed'],
    [20, 'timed'],
    [20, 'pending'],
  ] as const)('reload without loss: query the thread mid-run (after %i chunks, %s flushes), then threadEvents(after: lastEventSeq)', async (pause, flushes) => {
    const target = flushes === 'timed' ? server : slowFlush;
    const resume = deferred();
    fake.enqueue({ chunks: CHUNKS, pauseAfter: pause, resumeWhen: resume.promise });
    const threadId = await newThread(target);
    const observer = track(await liveSubscriber(transport, target, threadId));
    const { runId } = await send(target, threadId, 'Tell me everything.');
    await fake.waitForRequests(1);
    await observer.waitFor(pause === 0 ? 3 : 4 + pause);

    // The reload: what the client knows, then the events after it.
    const loaded = await threadState(target, threadId);
    if (flushes === 'pending') {
      // Streamed text is stored in batches, not per token: none of the 20 published deltas is
      // stored yet (the interval is 60 s and 20 chunks are far below FLUSH_MAX_CHARS).
      expect(loaded.lastEventSeq).toBe(4);
      expect(received(observer, 'threadEvents').at(-1)!.seq).toBe(4 + pause);
      expect(loaded.messages.at(-1)).toMatchObject({ role: 'ASSISTANT', content: '', status: 'IN_PROGRESS' });
    }
    const sub = track(threadEvents(transport, target, threadId, loaded.lastEventSeq));
    resume.resolve();
    await waitForEvent(sub, 'threadEvents', isTerminalOf(runId));
    const events = received(sub, 'threadEvents');

    expect(events.filter((e) => e.seq <= loaded.lastEventSeq)).toEqual([]);
    expect(events[0]!.seq).toBe(loaded.lastEventSeq + 1);
    expectContiguous(events);
    const final = await threadState(target, threadId);
    expect(final.messages.at(-1)).toMatchObject({ role: 'ASSISTANT', content: REPLY, status: 'COMPLETED' });
    expect(applyEvents(events, loaded.contents)).toEqual(final.contents);
    // The observer saw the same events from lastEventSeq on.
    await waitForEvent(observer, 'threadEvents', isTerminalOf(runId));
    expect(received(observer, 'threadEvents').filter((e) => e.seq > loaded.lastEventSeq)).toEqual(events);
  });

  it('every streamed delta is stored as its own MESSAGE_DELTA row, in seq order (200 chunks)', async () => {
    const chunks = manyChunks(200, 'long');
    fake.enqueue({ chunks });
    const threadId = await newThread(server);
    const live = track(await liveSubscriber(transport, server, threadId));
    const { runId } = await send(server, threadId, 'A very long answer, please.');
    await waitForEvent(live, 'threadEvents', isTerminalOf(runId));
    const liveEvents = received(live, 'threadEvents');
    const liveDeltas = liveEvents.filter((e) => e.__typename === 'MessageDeltaEvent');
    expect(liveDeltas.map((e) => e.delta)).toEqual(chunks);

    {
      const rows = (
        await queryDatabase<{ seq: number | string; type: string; messageid: string | null; payload: unknown }>(
          server.databaseFile,
          'select seq, type, message_id as messageid, payload from events where thread_id = ? order by seq',
          [threadId],
        )
      ).map((r) => ({ seq: Number(r.seq), type: r.type, messageId: r.messageid, payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload }));
      expect(rows.map((r) => r.seq)).toEqual(liveEvents.map((e) => e.seq));
      const deltaRows = rows.filter((r) => r.type === 'MESSAGE_DELTA');
      expect(deltaRows).toHaveLength(200);
      expect(deltaRows.map((r) => ({ seq: r.seq, messageId: r.messageId, delta: r.payload.delta }))).toEqual(
        liveDeltas.map((e) => ({ seq: e.seq, messageId: e.messageId, delta: e.delta })),
      );
      const replyId = liveDeltas[0]!.messageId!;
      const stored = await queryDatabase(server.databaseFile, 'select content, status from messages where id = ?', [replyId]);
      expect(stored).toEqual([{ content: chunks.join(''), status: 'COMPLETED' }]);
      const thread = await queryDatabase(server.databaseFile, 'select last_event_seq::int as seq from threads where id = ?', [threadId]);
      expect(thread).toEqual([{ seq: liveEvents.at(-1)!.seq }]);
    }
  });
});

describe.each(TRANSPORTS)('replay after a restart over %s', (transport) => {
  let fake: FakeProvider;
  beforeAll(async () => {
    fake = await startFakeProvider();
  });
  afterAll(async () => {
    await fake.close();
    removeTempDirs();
  });

  it('threadEvents(after: 0) returns the same events before and after a restart', async () => {
    const second = manyChunks(40, 'again');
    fake.enqueue({ chunks: CHUNKS, paceMs: 1 }, { chunks: second });
    const first = await startTestServer({ provider: fake });
    let threadId: string;
    let beforeRestart: EventData[];
    let stateBefore: Awaited<ReturnType<typeof threadState>>;
    try {
      ({ threadId } = await finishedThread(first));
      await send(first, threadId, 'Once more.', { waitForReply: true });
      stateBefore = await threadState(first, threadId);
      beforeRestart = await replay(transport, first, threadId, 0, stateBefore.lastEventSeq);
      expect(beforeRestart.map(shape)).toEqual([...runShape(40), ...runShape(40)]);
    } finally {
      await first.stop();
    }

    const restarted = await startTestServer({ provider: fake, databaseFile: first.databaseFile });
    try {
      const stateAfter = await threadState(restarted, threadId);
      expect(stateAfter).toEqual(stateBefore);
      expect(await replay(transport, restarted, threadId, 0, beforeRestart.length)).toEqual(beforeRestart);
      const mid = beforeRestart[50]!.seq;
      expect(await replay(transport, restarted, threadId, mid, beforeRestart.length - 51)).toEqual(beforeRestart.slice(51));
    } finally {
      await restarted.stop();
    }
  });

  it('a run cut by shutdown: what a live subscriber saw is replayed unchanged after the restart', async () => {
    const resume = deferred();
    fake.enqueue({ chunks: CHUNKS, pauseAfter: 20, resumeWhen: resume.promise });
    const first = await startTestServer({ provider: fake });
    let threadId: string;
    let runId: string;
    let seen: EventData[];
    try {
      threadId = await newThread(first);
      const live = await liveSubscriber(transport, first, threadId);
      ({ runId } = await send(first, threadId, 'Long story.'));
      await live.waitFor(4 + 20);
      await first.stop();
      live.close();
      seen = received(live, 'threadEvents');
    } finally {
      resume.resolve();
      await first.stop();
    }
    expect(seen.length).toBeGreaterThanOrEqual(24);

    const restarted = await startTestServer({ provider: fake, databaseFile: first.databaseFile });
    const sub = threadEvents(transport, restarted, threadId, 0);
    try {
      await waitForEvent(sub, 'threadEvents', isTerminalOf(runId));
      const stored = received(sub, 'threadEvents');
      expectStrictlyIncreasing(stored);
      expect(stored.slice(0, seen.length)).toEqual(seen);
      expect(stored.at(-1)).toMatchObject({
        __typename: 'RunStatusEvent',
        run: { id: runId, status: 'FAILED', error: { code: 'SERVER_SHUTDOWN' } },
      });
      const state = await threadState(restarted, threadId);
      expect(state.lastEventSeq).toBe(stored.at(-1)!.seq);
      expect(state.messages.at(-1)).toMatchObject({ role: 'ASSISTANT', status: 'INCOMPLETE', content: CHUNKS.slice(0, 20).join('') });
      expect(applyEvents(stored)).toEqual(state.contents);
    } finally {
      sub.close();
      await restarted.stop();
    }
  });

  it('after a crash, the restarted server reuses no seq a live client saw, and the client converges', async () => {
    const resume = deferred();
    fake.enqueue({ chunks: CHUNKS, pauseAfter: 20, resumeWhen: resume.promise });
    // A 60 s flush interval: the 20 streamed deltas are published but not stored at the crash.
    const first = await startTestServer({ provider: fake, env: { FLUSH_INTERVAL_MS: '60000' } });
    let threadId: string;
    let runId: string;
    let seen: EventData[];
    let crashImage: string;
    try {
      threadId = await newThread(first);
      const live = await liveSubscriber(transport, first, threadId);
      ({ runId } = await send(first, threadId, 'Long story.'));
      await live.waitFor(4 + 20);
      // kill -9 as the disk sees it: the database as it is now.
      crashImage = crashImageOf(first.databaseFile);
      seen = received(live, 'threadEvents');
      live.close();
    } finally {
      resume.resolve();
      await first.stop();
    }
    const lastSeen = seen.at(-1)!.seq;

    const restarted = await startTestServer({ provider: fake, databaseFile: crashImage });
    const resumed = threadEvents(transport, restarted, threadId, lastSeen);
    const everything = threadEvents(transport, restarted, threadId, 0);
    try {
      // The client reconnects where it left off and gets the run's end.
      await waitForEvent(resumed, 'threadEvents', isTerminalOf(runId));
      const tail = received(resumed, 'threadEvents');
      expect(tail.every((e) => e.seq > lastSeen)).toBe(true);
      expectStrictlyIncreasing(tail);
      expect(tail.map(shape)).toEqual(['MessageEvent:ASSISTANT:INCOMPLETE', 'RunStatusEvent:FAILED']);
      expect(tail.at(-1)!.run!.error).toMatchObject({ code: 'SERVER_RESTARTED' });
      const state = await threadState(restarted, threadId);
      expect(state.lastEventSeq).toBe(tail.at(-1)!.seq);
      expect(applyEvents(tail, applyEvents(seen))).toEqual(state.contents);

      // No stored event carries a seq the client saw for a different event.
      await waitForEvent(everything, 'threadEvents', isTerminalOf(runId));
      const stored = received(everything, 'threadEvents');
      expectStrictlyIncreasing(stored);
      // Compared where both have the seq: the events stored before the crash (the run's start at
      // least) are there, so the comparison cannot pass over an empty overlap.
      const seenBySeq = new Map(seen.map((e) => [e.seq, e]));
      const common = stored.filter((e) => seenBySeq.has(e.seq));
      expect(common.length, 'stored events with a seq the client saw').toBeGreaterThan(0);
      for (const e of common) expect(e, `seq ${e.seq}`).toEqual(seenBySeq.get(e.seq));
      expect(applyEvents(stored)).toEqual(state.contents);
    } finally {
      resumed.close();
      everything.close();
      await restarted.stop();
    }
  });

  it('past the retention window, compaction keeps a replay that still rebuilds every stored content', async () => {
    fake.enqueue({ chunks: CHUNKS });
    const first = await startTestServer({ provider: fake });
    let threadId: string;
    let runId: string;
    let before: EventData[];
    try {
      ({ threadId, runId } = await finishedThread(first));
      before = await replay(transport, first, threadId, 0, (await threadState(first, threadId)).lastEventSeq);
      expect(before.length).toBeGreaterThan(0);
    } finally {
      await first.stop();
    }
    // 25 hours pass (the default window is 24 h): age every stored event; start-up compacts.
    await queryDatabase(
      first.databaseFile,
      onPostgres ? `update events set created_at = created_at - interval '25 hours'` : 'update events set created_at = created_at - ?',
      onPostgres ? [] : [25 * 3_600_000],
    );

    const restarted = await startTestServer({ provider: fake, databaseFile: first.databaseFile });
    const sub = threadEvents(transport, restarted, threadId, 0);
    try {
      await waitForEvent(sub, 'threadEvents', isTerminalOf(runId));
      const after = received(sub, 'threadEvents');
      const state = await threadState(restarted, threadId);
      expect(state.lastEventSeq).toBe(before.at(-1)!.seq);
      // Only deltas may go; every event that stays is the one stored before, same seq.
      const bySeq = new Map(before.map((e) => [e.seq, e]));
      for (const e of after) expect(e).toEqual(bySeq.get(e.seq));
      expect(after.filter((e) => e.__typename !== 'MessageDeltaEvent')).toEqual(before.filter((e) => e.__typename !== 'MessageDeltaEvent'));
      expect(applyEvents(after)).toEqual(state.contents);
      expect(state.messages.at(-1)).toMatchObject({ content: REPLY, status: 'COMPLETED' });
    } finally {
      sub.close();
      await restarted.stop();
    }
  });
});
