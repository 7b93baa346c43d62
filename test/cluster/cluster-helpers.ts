import { expect } from 'vitest';
import { applyEvents, subscribeSse, waitUntil, type EventData, type SseSubscription } from '../helpers.js';
import { RUN_EVENTS, THREAD_EVENTS } from '../operations.js';
import { ok, type Cluster, type Instance } from './harness.js';

/** What cluster tests send and read, through the public GraphQL API of one instance or another. */

export const SEND = /* GraphQL */ `
  mutation ($input: SendMessageInput!) { sendMessage(input: $input) { message { id } run { id status } } }
`;
export const RUN = /* GraphQL */ `
  query ($id: ID!) { run(id: $id) { id status error { code } startedAt completedAt reply { id content status } } }
`;

export async function newThread(instance: Instance): Promise<string> {
  return (await ok(instance, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id;
}

/** The thread's first run started on `instance` (createThread with a user message). */
export async function startRun(instance: Instance, content = 'Tell me a story.'): Promise<{ threadId: string; runId: string }> {
  const data = await ok(instance, `mutation ($c: String!) { createThread(input: { messages: [{ role: USER, content: $c }] }) { thread { id } run { id } } }`, { c: content });
  return { threadId: data.createThread.thread.id, runId: data.createThread.run.id };
}

export const send = (instance: Instance, input: Record<string, unknown>) => instance.gql(SEND, { input });

export async function runOn(instance: Instance, runId: string): Promise<any> {
  return (await ok(instance, RUN, { id: runId })).run;
}

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE', 'EXPIRED'];

/** Polls another process's state (there is no event to wait on from the test process). */
export function endedRun(instance: Instance, runId: string, timeoutMs = 10_000): Promise<any> {
  return waitUntil(async () => {
    const run = await runOn(instance, runId);
    return TERMINAL.includes(run.status) && run;
  }, `run ${runId} ends (asked on ${instance.id})`, timeoutMs);
}

export const threadEventsOn = (instance: Instance, threadId: string, after: number | null = 0): SseSubscription =>
  subscribeSse(instance.url, THREAD_EVENTS, after === null ? { threadId } : { threadId, after });
export const runEventsOn = (instance: Instance, runId: string): SseSubscription => subscribeSse(instance.url, RUN_EVENTS, { runId });

export const eventsOf = (sub: SseSubscription, field: 'threadEvents' | 'runEvents'): EventData[] => sub.results.map((r) => r.data?.[field]).filter(Boolean);

/** Waits until a subscription has received an event that matches. */
export function waitForEvent(sub: SseSubscription, field: 'threadEvents' | 'runEvents', match: (e: EventData) => boolean, what: string, timeoutMs = 10_000): Promise<EventData> {
  return waitUntil(() => eventsOf(sub, field).find(match), what, timeoutMs) as Promise<EventData>;
}

export const isEndOf = (runId: string) => (e: EventData) => e.__typename === 'RunStatusEvent' && e.run?.id === runId && TERMINAL.includes(e.run.status);

/** The thread's final stored events (seq <= its high-water mark), read from the database. */
export async function storedEvents(cluster: Cluster, threadId: string): Promise<{ seq: number; type: string }[]> {
  const rows = await cluster.sql(
    `select e.seq, e.type from events e join threads t on t.id = e.thread_id where e.thread_id = '${threadId}' and e.seq <= t.last_event_seq order by e.seq`,
  );
  return rows.map(([seq, type]) => ({ seq: Number(seq), type: type! }));
}

/** Seqs strictly increasing: never a duplicate, never one reused with other content. */
export function expectStrictlyIncreasing(events: EventData[]): void {
  for (let i = 1; i < events.length; i++) expect(events[i]!.seq, `seq after ${events[i - 1]!.seq}`).toBeGreaterThan(events[i - 1]!.seq);
}

/** A late replay from `instance` (threadEvents after 0) delivers exactly the stored log; returns it. */
export async function expectReplayEqualsStore(cluster: Cluster, instance: Instance, threadId: string): Promise<EventData[]> {
  const stored = await storedEvents(cluster, threadId);
  const sub = threadEventsOn(instance, threadId, 0);
  try {
    await waitUntil(() => eventsOf(sub, 'threadEvents').at(-1)?.seq === stored.at(-1)?.seq, `the replay of ${threadId} on ${instance.id}`, 10_000);
  } finally {
    sub.close();
  }
  const replayed = eventsOf(sub, 'threadEvents');
  expect(replayed.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
  return replayed;
}

/** What the thread's messages hold in the database, by id. */
export async function storedContents(instance: Instance, threadId: string): Promise<Map<string, string>> {
  const data = await ok(instance, `query ($id: ID!) { thread(id: $id) { messages(first: 100) { edges { node { id content } } } } }`, { id: threadId });
  return new Map(data.thread.messages.edges.map((e: any) => [e.node.id, e.node.content]));
}

/** Live events rebuild what is stored (no delta lost, none twice). */
export async function expectLiveEqualsStore(instance: Instance, threadId: string, live: EventData[]): Promise<void> {
  expectStrictlyIncreasing(live);
  expect(applyEvents(live)).toEqual(await storedContents(instance, threadId));
}

/** The most IN_PROGRESS runs any thread has at this moment (the database also refuses a second). */
export async function mostExecutingPerThread(cluster: Cluster): Promise<number> {
  const rows = await cluster.sql(`select coalesce(max(n), 0) from (select count(*) as n from runs where status = 'IN_PROGRESS' group by thread_id) t`);
  return Number(rows[0]![0]);
}
