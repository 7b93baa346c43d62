import { request } from 'node:http';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LIVE_BUFFER_EVENTS, REPLAY_PAGE_EVENTS } from '../src/services/events/log-stream.js';
import type { ThreadEvent } from '../src/services/events/types.js';
import type { FakeProvider } from './fake-provider.js';
import {
  applyEvents,
  codeOf,
  endedRun,
  NO_RATE_LIMIT,
  sendMessage,
  startThread,
  startWithFakeProvider,
  stopWithFakeProvider,
  threadOf,
  waitUntil,
  type EventData,
  type TestServer,
} from './helpers.js';
import { THREAD_EVENTS } from './operations.js';
import { subscribe } from './stream-helpers.js';

/**
 * Subscribers that stop reading: the server holds a bounded number of their events (it reads
 * the stored log again when they come back), delivery stays exact, and dropping one is cheap.
 */

/** Long deltas, so the backlog usually outgrows the socket and kernel buffers on the way. */
const CHUNKS = Array.from({ length: 8000 }, (_, i) => `${i}:${'x'.repeat(300)} `);

/** A subscriber whose reading can be paused: the socket stops being read, as with a stalled client. */
interface PausableSubscriber {
  events: EventData[];
  pause(): void;
  resume(): void;
  kill(): void;
  until(count: number, timeoutMs?: number): Promise<void>;
}

function collectorOf(events: EventData[]) {
  let waiter: { count: number; resolve: () => void } | null = null;
  return {
    push(e: EventData) {
      events.push(e);
      if (waiter && events.length >= waiter.count) waiter.resolve();
    },
    until(count: number, timeoutMs = 30_000) {
      if (events.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} events (have ${events.length})`)), timeoutMs);
        waiter = { count, resolve: () => (clearTimeout(timer), resolve()) };
      });
    },
  };
}

/** graphql-transport-ws spoken directly over `ws`, so the socket can be paused. */
async function wsSubscriber(url: string, threadId: string): Promise<PausableSubscriber> {
  const events: EventData[] = [];
  const c = collectorOf(events);
  const ws = new WebSocket(url.replace('http', 'ws'), 'graphql-transport-ws');
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  ws.on('message', (raw) => {
    const msg = JSON.parse(String(raw));
    if (msg.type === 'connection_ack') ws.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: THREAD_EVENTS, variables: { threadId, after: 0 } } }));
    if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    if (msg.type === 'next') c.push(msg.payload.data.threadEvents);
  });
  return { events, pause: () => ws.pause(), resume: () => ws.resume(), kill: () => ws.terminate(), until: c.until };
}

/** SSE over node:http, so the response can be paused (its TCP window then closes). */
async function sseSubscriber(url: string, threadId: string): Promise<PausableSubscriber> {
  const events: EventData[] = [];
  const c = collectorOf(events);
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'next') c.push(JSON.parse(e.data).data.threadEvents);
    },
  });
  const body = JSON.stringify({ query: THREAD_EVENTS, variables: { threadId, after: 0 } });
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' } });
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
    req.end(body);
  });
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => parser.feed(chunk));
  res.on('error', () => {});
  return { events, pause: () => res.pause(), resume: () => res.resume(), kill: () => req.destroy(), until: c.until };
}

const SUBSCRIBERS = [
  ['WebSocket', wsSubscriber],
  ['SSE', sseSubscriber],
] as const;

describe.each(SUBSCRIBERS)('a subscriber that stops reading (%s)', { timeout: 60_000 }, (_name, open) => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('holds a bounded number of its events, then catches up from the log: every event once, in order', async () => {
    fake.enqueue({ chunks: ['first '] });
    const { threadId, runId } = await startThread(server);
    await endedRun(server, runId);
    const sub = await open(server.url, threadId);
    await sub.until(1);
    sub.pause();

    fake.enqueue({ chunks: CHUNKS });
    const { run } = await sendMessage(server, { threadId, content: 'A long one.', onActiveRun: 'ENQUEUE' });
    let maxBuffered = 0;
    let fellBehind = 0;
    const sampler = setInterval(() => {
      for (const s of server.services.events.streamStats()) {
        maxBuffered = Math.max(maxBuffered, s.buffered);
        fellBehind = Math.max(fellBehind, s.fellBehind);
      }
    }, 5);
    try {
      await endedRun(server, run.id);
    } finally {
      clearInterval(sampler);
    }
    // However far behind it fell (how far depends on the kernel's socket buffers: the in-process
    // test below makes it certain), it never held more than a buffer and a page.
    expect(fellBehind).toBeGreaterThanOrEqual(0);
    expect(maxBuffered).toBeLessThanOrEqual(LIVE_BUFFER_EVENTS + REPLAY_PAGE_EVENTS);

    sub.resume();
    const { lastEventSeq, messages } = await threadOf(server, threadId);
    expect(lastEventSeq).toBeGreaterThan(CHUNKS.length);
    await sub.until(lastEventSeq);
    expect(sub.events.map((e) => e.seq)).toEqual(Array.from({ length: lastEventSeq }, (_, i) => i + 1));
    const rebuilt = applyEvents(sub.events);
    expect(messages.length).toBe(4);
    for (const message of messages) expect(rebuilt.get(message.id)).toBe(message.content);
    sub.kill();
  });

  it('dropping a stalled subscriber with a large backlog frees it at once; the server keeps answering', async () => {
    fake.enqueue({ chunks: ['first '] });
    const { threadId, runId } = await startThread(server);
    await endedRun(server, runId);
    const baseline = server.services.events.openCount();
    const listeners = server.services.events.pubsub.listenerCount();
    const sub = await open(server.url, threadId);
    await sub.until(1);
    sub.pause();
    fake.enqueue({ chunks: CHUNKS });
    const { run } = await sendMessage(server, { threadId, content: 'A long one.' });
    await endedRun(server, run.id);

    sub.kill();
    await waitUntil(() => server.services.events.openCount() === baseline, 'the stalled stream is gone', 5000);
    expect(server.services.events.pubsub.listenerCount()).toBe(listeners);
    const res = await server.gql('{ __typename }');
    expect(res.data).toEqual({ __typename: 'Query' });
  });
});

describe('a stream whose consumer stops pulling (in process, no socket buffers in between)', () => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('falls behind with at most a buffer of live events, then reads the log: every event once, in order', async () => {
    fake.enqueue({ chunks: ['first '] });
    const { threadId, runId } = await startThread(server);
    await endedRun(server, runId);
    const stream = await server.services.events.threadEvents('local', threadId, 0);
    const events: ThreadEvent[] = [(await stream.next()).value];

    fake.enqueue({ chunks: CHUNKS.slice(0, 3000) });
    const { run } = await sendMessage(server, { threadId, content: 'A long one.' });
    await endedRun(server, run.id);
    const held = stream.stats();
    expect(held.fellBehind).toBeGreaterThan(0);
    expect(held.buffered).toBeLessThanOrEqual(LIVE_BUFFER_EVENTS);

    const { lastEventSeq, messages } = await threadOf(server, threadId);
    let maxBuffered = 0;
    while (events.length < lastEventSeq) {
      events.push((await stream.next()).value);
      maxBuffered = Math.max(maxBuffered, stream.stats().buffered);
    }
    await stream.return();
    expect(maxBuffered).toBeLessThanOrEqual(LIVE_BUFFER_EVENTS + REPLAY_PAGE_EVENTS);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: lastEventSeq }, (_, i) => i + 1));
    const rebuilt = applyEvents(events.map((e) => toWire(e)));
    for (const message of messages) expect(rebuilt.get(message.id)).toBe(message.content);
  });
});

/** A service-level event in the shape the GraphQL events have (for applyEvents). */
function toWire(event: ThreadEvent): EventData {
  const base = { seq: event.seq, threadId: event.threadId };
  if (event.kind === 'MESSAGE_DELTA') return { ...base, __typename: 'MessageDeltaEvent', messageId: event.messageId, delta: event.delta };
  if (event.kind === 'MESSAGE') return { ...base, __typename: 'MessageEvent', message: event.message };
  return { ...base, __typename: 'RunStatusEvent', run: { ...event.run, error: null } };
}

describe('subscription limits and bad starting points', () => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, MAX_SUBSCRIPTIONS_PER_OWNER: '2' } })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it.each(['sse', 'ws'] as const)('a third open subscription of one owner is refused with RATE_LIMITED naming the limit (%s)', async (transport) => {
    fake.enqueue({ chunks: ['hi '] });
    const { threadId, runId } = await startThread(server);
    await endedRun(server, runId);
    const first = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: 0 });
    const second = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: 0 });
    await first.waitFor(1);
    await second.waitFor(1);
    const third = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: 0 });
    const refusal = await refusalOf(third);
    expect(refusal.code).toBe('RATE_LIMITED');
    expect(refusal.message).toMatch(/MAX_SUBSCRIPTIONS_PER_OWNER/);
    expect(refusal.message).toMatch(/\b2\b/);

    first.close();
    await waitUntil(() => server.services.events.openCount('local') === 1, 'the closed subscription is released');
    const fourth = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: 0 });
    await fourth.waitFor(1);
    second.close();
    fourth.close();
    await waitUntil(() => server.services.events.openCount('local') === 0, 'all released');
  });

  it.each(['sse', 'ws'] as const)('threadEvents(after:) beyond lastEventSeq, or negative, is BAD_USER_INPUT naming after (%s)', async (transport) => {
    fake.enqueue({ chunks: ['hi '] });
    const { threadId, runId } = await startThread(server);
    await endedRun(server, runId);
    const { lastEventSeq } = await threadOf(server, threadId);
    for (const after of [lastEventSeq + 1, -1]) {
      const refusal = await refusalOf(subscribe(transport, server.url, THREAD_EVENTS, { threadId, after }));
      expect(refusal.code).toBe('BAD_USER_INPUT');
      expect(refusal.message).toMatch(/^after: /);
    }
    // At lastEventSeq exactly: accepted (nothing to replay yet).
    const sub = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: lastEventSeq });
    fake.enqueue({ chunks: ['again '] });
    await sendMessage(server, { threadId, content: 'More?' });
    await sub.waitFor(1);
    expect(sub.results[0]!.data.threadEvents.seq).toBe(lastEventSeq + 1);
    sub.close();
  });
});

/** The error a subscription ends with (as a result with errors, or the WebSocket error sink). */
async function refusalOf(sub: ReturnType<typeof subscribe>): Promise<{ code: string | undefined; message: string }> {
  const outcome = await Promise.race([
    sub.waitFor(1, 5000).then(() => sub.results[0]!),
    sub.completed.then(
      () => sub.results[0],
      (error: unknown) => ({ errors: error as { message: string; extensions?: Record<string, unknown> }[] }),
    ),
  ]);
  const errors = (outcome as { errors?: { message: string; extensions?: Record<string, any> }[] } | undefined)?.errors;
  expect(errors?.length).toBeGreaterThan(0);
  sub.close();
  return { code: codeOf({ errors }), message: errors![0]!.message };
}
