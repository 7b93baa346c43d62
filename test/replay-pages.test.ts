import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadEvent } from '../src/services/events/types.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { applyEvents, deferred, endedRun, eventsOf, removeTempDirs, sendMessage, startTestServer, startThread, threadOf, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';
import { THREAD_EVENTS } from './operations.js';
import { subscribe, TRANSPORTS } from './stream-helpers.js';

/**
 * A replay longer than one page (threadEvents reads the stored log 500 events at a time) while
 * a run keeps streaming: the pages and the live events join without loss or duplicates.
 */
describe.each(TRANSPORTS)('a replay of several pages joined to live events (%s)', (transport) => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider()));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('delivers every event once, seq 1..N without gaps, and rebuilds the stored content', async () => {
    // About 1,300 stored events first, then a second run held mid-stream while the client subscribes.
    fake.enqueue({ chunks: Array.from({ length: 1300 }, (_, i) => `w${i} `) });
    const { threadId, runId } = await startThread(server);
    await endedRun(server, runId);
    const resume = deferred();
    fake.enqueue({ chunks: Array.from({ length: 300 }, (_, i) => `live${i} `), pauseAfter: 100, resumeWhen: resume.promise });
    const second = await sendMessage(server, { threadId, content: 'And more?' });
    await fake.waitForRequests(2);

    const sub = subscribe(transport, server.url, THREAD_EVENTS, { threadId, after: 0 });
    try {
      await sub.waitFor(600, 10_000);
      resume.resolve();
      await endedRun(server, second.run.id);
      const { lastEventSeq, messages } = await threadOf(server, threadId);
      await sub.waitFor(lastEventSeq, 10_000);

      const events = eventsOf(sub, 'threadEvents');
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: lastEventSeq }, (_, i) => i + 1));
      const rebuilt = applyEvents(events);
      for (const message of messages) expect(rebuilt.get(message.id)).toBe(message.content);
      expect(messages.at(-1)!.content).toContain('live299');
    } finally {
      sub.close();
    }
  });
});

describe('a replay still being read when the server shuts down', () => {
  it('delivers the rest of the replay and the held-back live events, up to the terminal event', async () => {
    const fake = await startFakeProvider();
    const server = await startTestServer({ provider: fake });
    try {
      fake.enqueue({ chunks: Array.from({ length: 700 }, (_, i) => `w${i} `) });
      const { threadId, runId } = await startThread(server);
      await endedRun(server, runId);
      fake.enqueue({ chunks: ['held ', 'forever '], stallAfter: 1 });
      const second = await sendMessage(server, { threadId, content: 'And more?' });
      await fake.waitForRequests(2);

      // The stream as the threadEvents resolver builds it: one page read, then the server stops
      // while the client keeps reading; the rest arrives page by page, up to the terminal event.
      const stream = await server.services.events.threadEvents('local', threadId, 0);
      const received: ThreadEvent[] = [(await stream.next()).value as ThreadEvent];
      const stopping = server.stop();
      for (let r = await stream.next(); !r.done; r = await stream.next()) received.push(r.value);
      await stopping;

      const seqs = received.map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      expect(seqs.length).toBeGreaterThan(700);
      const last = received.at(-1)!;
      expect(last.kind === 'RUN_STATUS' && last.run.id === second.run.id && last.run.status).toBe('FAILED');
    } finally {
      await server.stop();
      await fake.close();
      removeTempDirs();
    }
  });
});
