import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import {
  applyEvents,
  deferred,
  newThread,
  removeTempDirs,
  runOf,
  startThread,
  startTestServer,
  waitUntil,
  within,
  type EventData,
  type Subscription,
  type TestServer,
} from './helpers.js';
import {
  expectStrictlyIncreasing,
  finishedThread,
  isTerminalOf,
  liveSubscriber,
  manyChunks,
  received,
  runEvents,
  send,
  subscriptionErrorCodes,
  threadEvents,
  threadState,
  TERMINAL,
  TRANSPORTS,
  waitForEvent,
} from './stream-helpers.js';

/**
 * runEvents over SSE and WebSocket: the snapshot, the live tail and the end, whenever the
 * client subscribes (api-contract.md, "Events (subscriptions)", invariants 1 and 2).
 */

const CHUNKS = manyChunks(40);
const REPLY = CHUNKS.join('');

/**
 * Checks one runEvents stream against the contract: snapshot first (MessageEvent only when a
 * reply exists, then RunStatusEvent, one shared seq), later seqs strictly greater, the
 * terminal COMPLETED status last and only there, every event about this run.
 */
function expectRunStream(events: EventData[], o: { runId: string; snapshotSeq: number; replyId: string | null }): void {
  const snapshotSize = o.replyId ? 2 : 1;
  expect(events.length).toBeGreaterThanOrEqual(snapshotSize);
  if (o.replyId) {
    expect(events[0]).toMatchObject({ __typename: 'MessageEvent', seq: o.snapshotSeq, message: { id: o.replyId, role: 'ASSISTANT' } });
  }
  expect(events[snapshotSize - 1]).toMatchObject({ __typename: 'RunStatusEvent', seq: o.snapshotSeq, run: { id: o.runId } });
  const live = events.slice(snapshotSize);
  if (live.length > 0) expect(live[0]!.seq).toBeGreaterThan(o.snapshotSeq);
  expectStrictlyIncreasing(events.slice(snapshotSize - 1));

  const last = events.at(-1)!;
  expect(last).toMatchObject({ __typename: 'RunStatusEvent', run: { id: o.runId, status: 'COMPLETED' } });
  const earlierTerminal = events.slice(0, -1).filter((e) => e.__typename === 'RunStatusEvent' && TERMINAL.includes(e.run!.status));
  expect(earlierTerminal).toEqual([]);

  for (const e of events) {
    if (e.__typename === 'RunStatusEvent') expect(e.run!.id).toBe(o.runId);
    else if (e.__typename === 'MessageDeltaEvent') expect(e.runId).toBe(o.runId);
    else expect(e.message!.role).toBe('ASSISTANT');
  }
}

describe.each(TRANSPORTS)('runEvents over %s', (transport) => {
  let fake: FakeProvider;
  let server: TestServer;
  const open: Subscription[] = [];
  const track = (s: Subscription) => (open.push(s), s);

  beforeAll(async () => {
    fake = await startFakeProvider();
    // Deltas are stored only by explicit flushes here (never by the timer), so a snapshot
    // taken mid-stream deterministically finds unstored deltas that it must flush first.
    server = await startTestServer({ provider: fake, env: { FLUSH_INTERVAL_MS: '60000' } });
  });
  beforeEach(async () => {
    fake.reset();
    for (const s of open.splice(0)) s.close();
    // Closing is asynchronous on the server: start every test with no listener left.
    await waitUntil(() => server.services.events.pubsub.listenerCount() === 0, 'earlier subscriptions are gone');
  });
  afterAll(async () => {
    for (const s of open.splice(0)) s.close();
    await server.stop();
    await fake.close();
    removeTempDirs();
  });

  it('subscribed before any output: a status-only snapshot, then every delta, ends with COMPLETED', async () => {
    const resume = deferred();
    fake.enqueue({ chunks: CHUNKS, pauseAfter: 0, resumeWhen: resume.promise });
    const { threadId, runId } = await startThread(server);
    await fake.waitForRequests(1);

    const sub = track(runEvents(transport, server, runId));
    await sub.waitFor(1);
    const atSnapshot = await threadState(server, threadId);
    const [snapshot] = received(sub, 'runEvents');
    expect(snapshot).toMatchObject({ __typename: 'RunStatusEvent', seq: atSnapshot.lastEventSeq, run: { id: runId, status: 'IN_PROGRESS' } });

    resume.resolve();
    await within(sub.completed, 5000, 'runEvents to complete');
    const events = received(sub, 'runEvents');
    const { reply } = await runOf(server, runId);
    expect(reply).toMatchObject({ content: REPLY, status: 'COMPLETED' });
    expectRunStream(events, { runId, snapshotSeq: atSnapshot.lastEventSeq, replyId: null });

    const deltas = events.filter((e) => e.__typename === 'MessageDeltaEvent');
    expect(deltas.map((d) => d.delta)).toEqual(CHUNKS);
    expect(events.map((e) => e.__typename)).toEqual([
      'RunStatusEvent',
      'MessageEvent',
      ...CHUNKS.map(() => 'MessageDeltaEvent'),
      'MessageEvent',
      'RunStatusEvent',
    ]);
    expect(applyEvents(events)).toEqual(new Map([[reply!.id, (await threadState(server, threadId)).contents.get(reply!.id)]]));
  });

  it('subscribed to a QUEUED run: snapshot QUEUED, then only that run\'s events', async () => {
    const resumeFirst = deferred();
    const second = manyChunks(40, 'second');
    fake.enqueue({ chunks: ['first ', 'run'], pauseAfter: 0, resumeWhen: resumeFirst.promise }, { chunks: second });
    const { threadId, runId: firstRunId } = await startThread(server);
    await fake.waitForRequests(1);
    const { runId } = await send(server, threadId, 'And then?', { onActiveRun: 'ENQUEUE' });
    expect(runId).not.toBe(firstRunId);

    const sub = track(runEvents(transport, server, runId));
    await sub.waitFor(1);
    const atSnapshot = await threadState(server, threadId);
    expect(received(sub, 'runEvents')[0]).toMatchObject({
      __typename: 'RunStatusEvent',
      seq: atSnapshot.lastEventSeq,
      run: { id: runId, status: 'QUEUED' },
    });

    resumeFirst.resolve();
    await within(sub.completed, 5000, 'runEvents of the queued run to complete');
    const events = received(sub, 'runEvents');
    const { reply } = await runOf(server, runId);
    expect(reply).toMatchObject({ content: second.join(''), status: 'COMPLETED' });
    expectRunStream(events, { runId, snapshotSeq: atSnapshot.lastEventSeq, replyId: null });
    expect(events.filter((e) => e.__typename === 'RunStatusEvent').map((e) => e.run!.status)).toEqual(['QUEUED', 'IN_PROGRESS', 'COMPLETED']);
    expect(applyEvents(events).get(reply!.id)).toBe((await threadState(server, threadId)).contents.get(reply!.id));
    expect((await runOf(server, firstRunId)).status).toBe('COMPLETED');
  });

  it('subscribed mid-stream: the snapshot carries the reply so far at the current seq, the rest follows exactly once', async () => {
    const resume = deferred();
    const PAUSE = 15;
    fake.enqueue({ chunks: CHUNKS, pauseAfter: PAUSE, resumeWhen: resume.promise });
    // A live-only observer (it flushes nothing) proves the first PAUSE deltas reached the
    // server: user message, QUEUED, IN_PROGRESS, the reply's MessageEvent, then the deltas.
    const threadId = await newThread(server);
    const observer = track(await liveSubscriber(transport, server, threadId));
    const { runId } = await send(server, threadId, 'Tell me a long story.');
    await observer.waitFor(4 + PAUSE);
    const lastSeenSeq = received(observer, 'threadEvents').at(-1)!.seq;

    const sub = track(runEvents(transport, server, runId));
    await sub.waitFor(2);
    const atSnapshot = await threadState(server, threadId);
    expect(atSnapshot.lastEventSeq).toBe(lastSeenSeq);
    const [message, status] = received(sub, 'runEvents');
    expect(message).toMatchObject({
      __typename: 'MessageEvent',
      seq: lastSeenSeq,
      message: { role: 'ASSISTANT', status: 'IN_PROGRESS', content: CHUNKS.slice(0, PAUSE).join('') },
    });
    expect(status).toMatchObject({ __typename: 'RunStatusEvent', seq: lastSeenSeq, run: { id: runId, status: 'IN_PROGRESS' } });

    resume.resolve();
    await within(sub.completed, 5000, 'runEvents to complete');
    const events = received(sub, 'runEvents');
    const { reply } = await runOf(server, runId);
    expect(reply).toMatchObject({ content: REPLY, status: 'COMPLETED' });
    expectRunStream(events, { runId, snapshotSeq: lastSeenSeq, replyId: reply!.id });
    expect(events.filter((e) => e.__typename === 'MessageDeltaEvent').map((d) => d.delta)).toEqual(CHUNKS.slice(PAUSE));
    expect(applyEvents(events).get(reply!.id)).toBe((await threadState(server, threadId)).contents.get(reply!.id));
  });

  it('subscribed after the run ended: the snapshot alone, its RunStatusEvent is terminal, then complete', async () => {
    fake.enqueue({ chunks: CHUNKS });
    const { threadId, runId, replyId } = await finishedThread(server);
    const state = await threadState(server, threadId);

    const sub = track(runEvents(transport, server, runId));
    await within(sub.completed, 5000, 'runEvents of an ended run to complete');
    const events = received(sub, 'runEvents');
    expect(events).toEqual([
      expect.objectContaining({ __typename: 'MessageEvent', seq: state.lastEventSeq, message: expect.objectContaining({ id: replyId, content: REPLY, status: 'COMPLETED' }) }),
      expect.objectContaining({ __typename: 'RunStatusEvent', seq: state.lastEventSeq, run: expect.objectContaining({ id: runId, status: 'COMPLETED' }) }),
    ]);
    expectRunStream(events, { runId, snapshotSeq: state.lastEventSeq, replyId });
    expect(applyEvents(events).get(replyId)).toBe(state.contents.get(replyId));
  });

  it('an unknown runId or threadId is NOT_FOUND', async () => {
    const cases = [
      runEvents(transport, server, 'run_AAAAAAAAAAAAAAAAAAAAAA'),
      runEvents(transport, server, 'nonsense'),
      threadEvents(transport, server, 'thread_AAAAAAAAAAAAAAAAAAAAAA'),
      threadEvents(transport, server, 'thread_AAAAAAAAAAAAAAAAAAAAAA', 0),
    ];
    for (const sub of cases) {
      const { codes, data } = await subscriptionErrorCodes(sub);
      expect(codes).toEqual(['NOT_FOUND']);
      expect(data).toEqual([]);
    }
  });

  it('a client leaving runEvents mid-run does not cancel the run, and its listener goes away', async () => {
    const resume = deferred();
    fake.enqueue({ chunks: CHUNKS, pauseAfter: 10, resumeWhen: resume.promise });
    const before = server.services.events.pubsub.listenerCount();
    const { runId } = await startThread(server);
    await fake.waitForRequests(1);

    const sub = runEvents(transport, server, runId);
    await sub.waitFor(1);
    expect(server.services.events.pubsub.listenerCount()).toBe(before + 1);
    sub.close();
    await waitUntil(() => server.services.events.pubsub.listenerCount() === before, 'the runEvents listener is removed');

    expect((await runOf(server, runId)).status).toBe('IN_PROGRESS');
    const watcher = track(runEvents(transport, server, runId));
    await watcher.waitFor(1);
    resume.resolve();
    await within(watcher.completed, 5000, 'the run to end');
    expect(received(watcher, 'runEvents').at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { id: runId, status: 'COMPLETED' } });
    expect(await runOf(server, runId)).toMatchObject({ status: 'COMPLETED', reply: { content: REPLY, status: 'COMPLETED' } });
    expect(fake.aborted).toBe(0);
    await waitUntil(() => server.services.events.pubsub.listenerCount() === before, 'the completed runEvents listener is removed');
  });

  it('a client leaving threadEvents releases its listener; the thread keeps streaming to others', async () => {
    const resume = deferred();
    fake.enqueue({ chunks: CHUNKS, pauseAfter: 5, resumeWhen: resume.promise });
    const before = server.services.events.pubsub.listenerCount();
    const { threadId, runId } = await startThread(server);
    const leaving = threadEvents(transport, server, threadId, 0);
    const staying = track(threadEvents(transport, server, threadId, 0));
    await leaving.waitFor(4 + 5);
    await staying.waitFor(4 + 5);
    expect(server.services.events.pubsub.listenerCount()).toBe(before + 2);
    leaving.close();
    await waitUntil(() => server.services.events.pubsub.listenerCount() === before + 1, 'the threadEvents listener is removed');

    resume.resolve();
    await waitForEvent(staying, 'threadEvents', isTerminalOf(runId));
    const events = received(staying, 'threadEvents');
    expectStrictlyIncreasing(events);
    expect(applyEvents(events)).toEqual((await threadState(server, threadId)).contents);
    staying.close();
    await waitUntil(() => server.services.events.pubsub.listenerCount() === before, 'every listener is removed');
  });
});
