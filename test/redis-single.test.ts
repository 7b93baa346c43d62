import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { applyEvents, codeOf, eventsOf, NO_RATE_LIMIT, sendMessage, startWithFakeProvider, stopWithFakeProvider, subscribeSse, threadOf, waitUntil, type Subscription, type TestServer } from './helpers.js';
import type { FakeProvider } from './fake-provider.js';
import { THREAD_EVENTS } from './operations.js';

/**
 * One instance with REDIS_URL: everything behaves as without it (its own subscribers take the
 * in-process path), /ready checks Redis, and a Redis that is not there stops nothing but the
 * readiness: runs stream and are stored, limits are counted in memory.
 */

const REDIS_URL = process.env.TEST_REDIS_URL;
const describeRedis = REDIS_URL ? describe : describe.skip;
if (!REDIS_URL) console.warn('[redis] skipped "one instance with REDIS_URL": set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)');

const prefix = () => `tqltest:${process.pid}:${randomBytes(3).toString('hex')}:`;
/** Waits until the subscription has seen a run end COMPLETED. */
const untilCompleted = (sub: Subscription) =>
  waitUntil(() => eventsOf(sub, 'threadEvents').some((e) => e.__typename === 'RunStatusEvent' && e.run!.status === 'COMPLETED'), 'the run completes', 10_000);

const ready = async (server: TestServer) => {
  const res = await fetch(new URL('/ready', server.url));
  return { status: res.status, body: (await res.json()) as any };
};

describe('REDIS_URL / REDIS_PREFIX configuration', () => {
  it('a REDIS_URL that is no redis:// URL is refused, naming the variable', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(loadConfig({}).redis).toBeNull();
    expect(loadConfig({ REDIS_URL: 'redis://h:1' }).redis).toEqual({ url: 'redis://h:1', prefix: 'threadql:' });
  });
});

describeRedis('one instance with REDIS_URL', () => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, REDIS_URL: REDIS_URL!, REDIS_PREFIX: prefix() } })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('/ready checks Redis; a run streams to a subscriber and replays exactly as without Redis', async () => {
    expect(await ready(server)).toEqual({ status: 200, body: { status: 'ok', checks: { database: 'ok', redis: 'ok', shutdown: 'ok' } } });
    const threadId = (await server.gql(`mutation { createThread(input: {}) { thread { id } } }`)).data.createThread.thread.id;
    const live = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
    fake.enqueue({ chunks: ['one ', 'two ', 'three'] });
    await sendMessage(server, { threadId, content: 'Count.' });
    await untilCompleted(live);
    const events = eventsOf(live, 'threadEvents');
    const replay = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
    await replay.waitFor(events.length);
    live.close();
    replay.close();
    expect(eventsOf(replay, 'threadEvents')).toEqual(events);
    const thread = await threadOf(server, threadId);
    expect([...applyEvents(events).values()]).toContain('one two three');
    expect(thread.messages.map((m) => m.content)).toEqual(['Count.', 'one two three']);
  });
});

describe('one instance whose Redis is not there', () => {
  let fake: FakeProvider;
  let server: TestServer;
  // A port nothing listens on: connections are refused at once.
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: { RATE_LIMIT_RUNS: '2', REDIS_URL: 'redis://127.0.0.1:1', REDIS_PREFIX: prefix() } })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('starts, says 503 redis on /ready, and still streams, stores and counts limits (in memory)', async () => {
    expect(await ready(server)).toMatchObject({ status: 503, body: { checks: { database: 'ok', redis: 'not answering' } } });
    const threadId = (await server.gql(`mutation { createThread(input: {}) { thread { id } } }`)).data.createThread.thread.id;
    const live = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
    fake.enqueue({ chunks: ['still ', 'here'] });
    await sendMessage(server, { threadId, content: 'Anyone?' });
    await untilCompleted(live);
    live.close();
    expect([...applyEvents(eventsOf(live, 'threadEvents')).values()]).toContain('still here');
    expect((await threadOf(server, threadId)).messages.map((m) => m.content)).toEqual(['Anyone?', 'still here']);
    // The second run of the window passes, the third is refused: the insurance limiter counts.
    fake.enqueue({ chunks: ['two'] });
    expect(codeOf(await server.gql(`mutation { createThread(input: { messages: [{ role: USER, content: "a" }] }) { run { id } } }`))).toBeUndefined();
    expect(codeOf(await server.gql(`mutation { createThread(input: { messages: [{ role: USER, content: "b" }] }) { run { id } } }`))).toBe('RATE_LIMITED');
  });
});
