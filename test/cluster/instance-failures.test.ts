import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { deferred, waitUntil, within } from '../helpers.js';
import {
  endedRun,
  eventsOf,
  expectReplayEqualsStore,
  expectStrictlyIncreasing,
  isEndOf,
  mostExecutingPerThread,
  runEventsOn,
  runOn,
  send,
  startRun,
  threadEventsOn,
  waitForEvent,
} from './cluster-helpers.js';
import { describeCluster, printLogsOnFailure, TEST_LEASE_TTL_MS, type Cluster, type Instance } from './harness.js';

/** A takeover happens within the TTL plus a reaper interval; the rest is margin for a loaded machine. */
const TAKEOVER_MS = TEST_LEASE_TTL_MS * 2 + 8000;

/** How long a run waits for tool outputs in this file's cluster. */
const WAIT_MS = 4000;

const delta = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

/**
 * An instance that dies, freezes or loses PostgreSQL while it executes runs: another instance
 * ends them (FAILED / SERVER_RESTARTED, the stored part INCOMPLETE) within the lease TTL plus a
 * reaper interval, its subscribers get the end, no seq is ever reused, the frozen instance
 * cannot write after the takeover, and queued runs start on the survivor.
 */
describeCluster('an instance that dies, freezes or loses the database', () => {
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  const gates: (() => void)[] = [];
  printLogsOnFailure(() => cluster);

  beforeAll(async () => {
    cluster = await startCluster2();
  }, 60_000);
  afterAll(async () => {
    for (const open of gates) open();
    await cluster?.close();
  });
  beforeEach(async () => {
    cluster.provider.reset();
    // Every scenario starts with A alive (the one before may have killed it).
    if (a.child.exitCode !== null || a.child.signalCode !== null) a = await cluster.start('A');
    a.proxy.restore();
  });

  async function startCluster2(): Promise<Cluster> {
    const { startCluster } = await import('./harness.js');
    // Short tool-output deadlines: a waiting run whose instance died must still expire (on B).
    const c = await startCluster({ instances: 2, env: { TOOL_OUTPUTS_TIMEOUT_MS: String(WAIT_MS) } });
    [a, b] = c.instances as [Instance, Instance];
    return c;
  }
  const held = () => {
    const d = deferred();
    gates.push(d.resolve);
    return d.promise;
  };

  it('kill -9 of the executing instance mid-stream: B ends its runs, subscribers on B get the end, no seq reused, the queued run starts on B', async () => {
    cluster.provider.enqueue({ chunks: delta(200), pauseAfter: 40, resumeWhen: held() }, { chunks: ['held ', 'forever'], stallAfter: 1 });
    cluster.provider.setDefault({ text: 'Answered by the survivor.' });
    const streaming = await startRun(a, 'A long story');
    const onB = threadEventsOn(b, streaming.threadId, 0);
    const runOnB = runEventsOn(b, streaming.runId);
    const other = await startRun(a, 'Held, with a run queued behind it');
    await cluster.provider.waitForRequests(2);
    const queued = await send(b, { threadId: other.threadId, content: 'queued', onActiveRun: 'ENQUEUE' });
    expect(queued.data.sendMessage.run.status).toBe('QUEUED');
    await waitForEvent(onB, 'threadEvents', (e) => e.delta === 'w39 ', 'B sees 40 deltas of the run on A');

    await a.kill();
    const end = await waitForEvent(runOnB, 'runEvents', isEndOf(streaming.runId), 'the end reaches the subscriber on B', TAKEOVER_MS);
    expect(end.run).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_RESTARTED' } });
    await waitForEvent(onB, 'threadEvents', isEndOf(streaming.runId), 'and the thread subscriber on B');
    const live = eventsOf(onB, 'threadEvents');
    expectStrictlyIncreasing(live);
    const ended = await runOn(b, streaming.runId);
    expect(ended.reply.status).toBe('INCOMPLETE');
    // What is stored is what was streamed, up to what the dead instance managed to store.
    const streamedText = live.filter((e) => e.__typename === 'MessageDeltaEvent').map((e) => e.delta).join('');
    expect(streamedText.startsWith(ended.reply.content)).toBe(true);
    expect(ended.reply.content).toMatch(/^w0 w1 /);
    onB.close();
    runOnB.close();
    await expectReplayEqualsStore(cluster, b, streaming.threadId);

    // The other thread: its held run ended the same way, and the run queued behind it ran on B.
    expect((await endedRun(b, other.runId, TAKEOVER_MS)).error.code).toBe('SERVER_RESTARTED');
    const next = await endedRun(b, queued.data.sendMessage.run.id, TAKEOVER_MS);
    expect(next).toMatchObject({ status: 'COMPLETED', reply: { content: 'Answered by the survivor.' } });
    expect(cluster.provider.requests).toHaveLength(3);
    expect(await mostExecutingPerThread(cluster)).toBe(0);
  });

  it('a frozen instance (SIGSTOP past its lease) cannot write after B took its run over, and stops its provider request when it wakes', async () => {
    cluster.provider.enqueue({ chunks: delta(400), paceMs: 10 });
    const { threadId, runId } = await startRun(a, 'Stream while I freeze');
    const onB = threadEventsOn(b, threadId, 0);
    await waitForEvent(onB, 'threadEvents', (e) => e.delta === 'w5 ', 'B sees the run stream');
    a.child.kill('SIGSTOP');
    try {
      const end = await waitForEvent(onB, 'threadEvents', isEndOf(runId), 'B takes the frozen run over', TAKEOVER_MS);
      expect(end.run).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_RESTARTED' } });
    } finally {
      a.child.kill('SIGCONT');
    }
    const takenOver = await cluster.sql(`select last_event_seq, (select content from messages where run_id = '${runId}' and role = 'ASSISTANT') from threads where id = '${threadId}'`);
    // Awake, A finds its lease unconfirmed (or taken): it gives the provider request up.
    await cluster.provider.waitForAborted(1, 10_000);
    // Its flush timer and the end it tried to store had their chance: neither landed.
    await new Promise((resolve) => setTimeout(resolve, TEST_LEASE_TTL_MS));
    const after = await cluster.sql(`select last_event_seq, (select content from messages where run_id = '${runId}' and role = 'ASSISTANT') from threads where id = '${threadId}'`);
    expect(after).toEqual(takenOver);
    const late = await cluster.sql(`select count(*) from events where thread_id = '${threadId}' and seq > ${takenOver[0]![0]}`);
    expect(late[0]![0]).toBe('0');
    const live = eventsOf(onB, 'threadEvents');
    expectStrictlyIncreasing(live);
    expect(live.at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { id: runId } });
    onB.close();
    await expectReplayEqualsStore(cluster, b, threadId);
    // A is healthy again: it executes the next run of that thread.
    cluster.provider.setDefault({ text: 'A is back.' });
    const next = await send(a, { threadId, content: 'Are you back?' });
    expect((await endedRun(a, next.data.sendMessage.run.id)).reply.content).toBe('A is back.');
  });

  it('PostgreSQL cut off for the executing instance: it stops publishing, B takes over, subscribers complete, no seq reused', async () => {
    cluster.provider.enqueue({ chunks: delta(600), paceMs: 10 });
    const { threadId, runId } = await startRun(a, 'Stream while the database goes away');
    const onB = runEventsOn(b, runId);
    const threadOnB = threadEventsOn(b, threadId, 0);
    await waitForEvent(threadOnB, 'threadEvents', (e) => e.delta === 'w10 ', 'B sees the run stream');
    a.proxy.cut();
    try {
      // Unable to store, A stops reading its provider rather than publishing past its window.
      await cluster.provider.waitForAborted(1, TAKEOVER_MS);
      const end = await waitForEvent(onB, 'runEvents', isEndOf(runId), 'the run ends, taken over by B', TAKEOVER_MS);
      expect(end.run?.status).toBe('FAILED');
      expect(['SERVER_RESTARTED', 'STORAGE_ERROR']).toContain(end.run?.error?.code);
      await onB.completed;
      await waitForEvent(threadOnB, 'threadEvents', isEndOf(runId), 'the thread subscriber on B gets it too');
      expectStrictlyIncreasing(eventsOf(threadOnB, 'threadEvents'));
      // runEvents starts with its snapshot (the reply, then the status, both at the seq they describe).
      const runStream = eventsOf(onB, 'runEvents');
      expectStrictlyIncreasing(runStream.slice(runStream[0]?.__typename === 'MessageEvent' ? 1 : 0));
    } finally {
      a.proxy.restore();
    }
    threadOnB.close();
    await expectReplayEqualsStore(cluster, b, threadId);
    // Once it reaches the database again, A serves as before (its late end was refused by the fence).
    cluster.provider.setDefault({ text: 'Reconnected.' });
    const next = await waitUntil(async () => {
      const res = await send(a, { threadId, content: 'Still there?' });
      return res.errors ? null : res;
    }, 'A answers again', 15_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${a.output().slice(-4000)}`);
    });
    expect((await endedRun(a, next!.data.sendMessage.run.id)).reply.content).toBe('Reconnected.');
  });

  it('graceful shutdown of A: its streaming run ends SERVER_SHUTDOWN, its lease is released, and the run queued behind it starts on B', async () => {
    cluster.provider.enqueue({ chunks: ['stalled ', 'here'], stallAfter: 1 });
    cluster.provider.setDefault({ text: 'Started on B after A left.' });
    const { threadId, runId } = await startRun(a, 'Running when A stops');
    await cluster.provider.waitForRequests(1);
    const queued = await send(b, { threadId, content: 'next', onActiveRun: 'ENQUEUE' });
    const queuedRunId = queued.data.sendMessage.run.id;
    const exit = await within(a.stop(), 20_000, 'A stops').catch((error: unknown) => {
      throw new Error(`${String(error)}\n${a.output().slice(-6000)}`);
    });
    expect(exit.code).toBe(0);
    expect(await runOn(b, runId)).toMatchObject({ status: 'FAILED', error: { code: 'SERVER_SHUTDOWN' }, reply: { status: 'INCOMPLETE' } });
    const next = await endedRun(b, queuedRunId);
    expect(next).toMatchObject({ status: 'COMPLETED', reply: { content: 'Started on B after A left.' } });
    const released = await cluster.sql(`select writer is null from threads where id = '${threadId}'`);
    expect(released[0]![0]).toBe('t');
  });

  it('a run waiting for tool outputs on a killed instance still ends EXPIRED at its deadline, on B', async () => {
    cluster.provider.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }] });
    const created = await a.gql(`mutation ($input: CreateThreadInput!) { createThread(input: $input) { run { id } reply { status } } }`, {
      input: { messages: [{ role: 'USER', content: 'What time is it?' }], tools: [{ name: 'get_time' }] },
    });
    const runId = created.data.createThread.run.id;
    expect((await runOn(a, runId)).status).toBe('REQUIRES_ACTION');
    await a.kill();
    const expired = await endedRun(b, runId, WAIT_MS + TAKEOVER_MS);
    expect(expired.status).toBe('EXPIRED');
    expect(Date.parse(expired.completedAt)).toBeGreaterThanOrEqual(Date.parse(expired.startedAt) + WAIT_MS - 1000);
  });
});
