import { expect } from 'vitest';
import {
  ok,
  subscribeSse,
  subscribeWs,
  threadOf,
  waitUntil,
  within,
  type EventData,
  type MessageView,
  type Subscription,
  type TestServer,
} from './helpers.js';
import { RUN_EVENTS, THREAD_EVENTS } from './operations.js';

/** Streaming helpers shared by the subscription tests (not a test file itself). */

export type Transport = 'sse' | 'ws';
export const TRANSPORTS: Transport[] = ['sse', 'ws'];

/** Both transports with the names `it.each` titles show. */
export const SUBSCRIBERS = [
  ['SSE', subscribeSse],
  ['WebSocket', subscribeWs],
] as const;

export const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE'];

export function subscribe(transport: Transport, url: string, query: string, variables?: Record<string, unknown>): Subscription {
  return transport === 'sse' ? subscribeSse(url, query, variables) : subscribeWs(url, query, variables);
}

export function runEvents(transport: Transport, server: TestServer, runId: string): Subscription {
  return subscribe(transport, server.url, RUN_EVENTS, { runId });
}

export function threadEvents(transport: Transport, server: TestServer, threadId: string, after?: number): Subscription {
  return subscribe(transport, server.url, THREAD_EVENTS, after === undefined ? { threadId } : { threadId, after });
}

/** Subscribes live-only (no `after`) and waits until the server has registered the listener. */
export async function liveSubscriber(transport: Transport, server: TestServer, threadId: string): Promise<Subscription> {
  const before = server.services.events.pubsub.listenerCount();
  const sub = threadEvents(transport, server, threadId);
  await waitUntil(() => server.services.events.pubsub.listenerCount() > before, 'the live subscription is registered');
  return sub;
}

/**
 * A reply of `n` chunks mixing ASCII with multi-byte text: accents, CJK, astral-plane emoji,
 * a ZWJ sequence split over two chunks, JSON-hostile characters and newlines.
 */
export function manyChunks(n: number, tag = 'x'): string[] {
  const special = [
    'héllo ', 'naïve café ', '日本語の', 'テキスト ', '👋🏽 ', '🧑', '\u200d🚀 ', 'Ελληνικά ', '—', ' “quoted” ',
    'emoji🎉', '\n\n', 'tab\there ', '\\backslash ', '"json" ', '<b>&amp;</b> ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ', '🇫🇷', ' ',
  ];
  const chunks: string[] = [];
  for (let i = 0; i < n; i++) chunks.push(i % 3 === 1 ? special[Math.floor(i / 3) % special.length]! : `${tag}${i} `);
  return chunks;
}

/** The events received so far, failing on any GraphQL error. */
export function received(sub: Subscription, field: string): EventData[] {
  return sub.results.map((r, i) => {
    if (r.errors) throw new Error(`result ${i} has errors: ${JSON.stringify(r.errors)}`);
    return r.data![field] as EventData;
  });
}

/** Waits (event by event, no polling) for an event matching `pred`; returns its index. */
export async function waitForEvent(sub: Subscription, field: string, pred: (e: EventData) => boolean, timeoutMs = 5000): Promise<number> {
  for (let i = 0; ; i++) {
    if (sub.results.length <= i) {
      const arrived = sub.waitFor(i + 1, timeoutMs);
      arrived.catch(() => {});
      const ended = sub.completed.then(() => {
        if (sub.results.length <= i) throw new Error(`subscription ended after ${i} events without the awaited event`);
      });
      ended.catch(() => {});
      await Promise.race([arrived, ended]);
    }
    if (pred(received(sub, field)[i]!)) return i;
  }
}

export const isTerminalOf = (runId: string) => (e: EventData) =>
  e.__typename === 'RunStatusEvent' && e.run!.id === runId && TERMINAL.includes(e.run!.status);

/** Invariant 2 for threadEvents: seq strictly increasing (so nothing twice). */
export function expectStrictlyIncreasing(events: EventData[]): void {
  for (let i = 1; i < events.length; i++) {
    if (!(events[i]!.seq > events[i - 1]!.seq)) {
      throw new Error(`seq not strictly increasing at ${i}: ${events[i - 1]!.seq} then ${events[i]!.seq}`);
    }
  }
}

export function expectContiguous(events: EventData[]): void {
  expectStrictlyIncreasing(events);
  for (let i = 1; i < events.length; i++) expect(events[i]!.seq, `gap after seq ${events[i - 1]!.seq}`).toBe(events[i - 1]!.seq + 1);
}

// ---- Threads and runs as the streaming tests drive them ---------------------------------------

/** A thread whose first run has ended (the payload's reply resolves when it ends). */
export async function finishedThread(server: TestServer, content = 'Hi!'): Promise<{ threadId: string; runId: string; replyId: string }> {
  const data = await ok(
    server,
    `mutation($content: String!) { createThread(input: { messages: [{ role: USER, content: $content }] }) { thread { id } run { id } reply { id status } } }`,
    { content },
  );
  expect(data.createThread.reply.status).toBe('COMPLETED');
  return { threadId: data.createThread.thread.id, runId: data.createThread.run.id, replyId: data.createThread.reply.id };
}

export async function send(
  server: TestServer,
  threadId: string,
  content: string,
  options: { onActiveRun?: 'REJECT' | 'ENQUEUE' | 'INTERRUPT'; waitForReply?: boolean } = {},
): Promise<{ messageId: string; runId: string; replyId?: string }> {
  const data = await ok(
    server,
    `mutation($threadId: ID!, $content: String!, $onActiveRun: OnActiveRun) {
      sendMessage(input: { threadId: $threadId, content: $content, onActiveRun: $onActiveRun }) {
        message { id } run { id } ${options.waitForReply ? 'reply { id status }' : ''}
      }
    }`,
    { threadId, content, onActiveRun: options.onActiveRun ?? 'REJECT' },
  );
  const p = data.sendMessage;
  return { messageId: p.message.id, runId: p.run.id, replyId: p.reply?.id };
}

export interface ThreadState {
  lastEventSeq: number;
  contents: Map<string, string>;
  messages: MessageView[];
}

/** What a reloading client queries: the thread's lastEventSeq and its stored messages. */
export async function threadState(server: TestServer, threadId: string): Promise<ThreadState> {
  const { lastEventSeq, messages } = await threadOf(server, threadId);
  return { lastEventSeq, contents: new Map(messages.map((m) => [m.id, m.content] as [string, string])), messages };
}

/** The error codes a subscription ended with, whichever way the transport reports them. */
export async function subscriptionErrorCodes(sub: Subscription): Promise<{ codes: string[]; data: unknown[] }> {
  const failure = await within(sub.completed.then(() => null, (err: unknown) => err), 5000, 'subscription to end');
  const codes = sub.results.flatMap((r) => (r.errors ?? []).map((e) => e.extensions?.code));
  if (Array.isArray(failure)) codes.push(...failure.map((e: any) => e?.extensions?.code));
  else if (failure) codes.push((failure as any)?.extensions?.code ?? String(failure));
  return { codes, data: sub.results.map((r) => r.data).filter((d) => d != null) };
}
