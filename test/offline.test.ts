import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyEvents,
  eventsOf,
  removeTempDirs,
  runOf,
  startTestServer,
  startThread,
  subscribeSse,
  type EventData,
  type TestServer,
} from './helpers.js';
import { RUN_EVENTS, THREAD_EVENTS } from './operations.js';

/** A user message of many words makes the offline reply long enough to subscribe in the middle of it. */
const LONG_QUESTION = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');

describe('the offline model (no OPENAI_API_KEY, no OPENAI_BASE_URL)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
    removeTempDirs();
  });

  it('is what the server uses when no provider is configured', () => {
    expect(server.services.config.llm.offline).toBe(true);
  });

  it('answers createThread with a non-empty COMPLETED reply from the model `offline`', async () => {
    const res = await server.gql(
      `mutation { createThread(input: { title: "Offline", messages: [{ role: USER, content: "Hello offline" }] }) {
        thread { id } run { id model } reply { id role content status run { status model usage { inputTokens outputTokens totalTokens } } } } }`,
    );
    expect(res.errors).toBeUndefined();
    const { run, reply } = res.data.createThread;
    expect(run.model).toBe('offline');
    expect(reply).toMatchObject({ role: 'ASSISTANT', status: 'COMPLETED', run: { status: 'COMPLETED', model: 'offline' } });
    expect(reply.content.trim()).not.toBe('');
    expect(reply.content).toContain('Hello offline');
    expect(reply.run.usage.outputTokens).toBeGreaterThan(0);
    expect(reply.run.usage.totalTokens).toBe(reply.run.usage.inputTokens + reply.run.usage.outputTokens);
  });

  it('is deterministic: the same input gives the same reply', async () => {
    const ask = async () => {
      const res = await server.gql(`mutation { createThread(input: { messages: [{ role: USER, content: "Same question" }] }) { reply { content } } }`);
      expect(res.errors).toBeUndefined();
      return res.data.createThread.reply.content as string;
    };
    expect(await ask()).toBe(await ask());
  });

  it('answers as `offline` even when the input names a model', async () => {
    const res = await server.gql(
      `mutation { createThread(input: { model: "gpt-4o", messages: [{ role: USER, content: "Which model?" }] }) { run { model } reply { status run { model } } } }`,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.run.model).toBe('offline');
    expect(res.data.createThread.reply).toEqual({ status: 'COMPLETED', run: { model: 'offline' } });
  });

  it('streams its reply word by word: runEvents over SSE shows several MessageDeltaEvents', async () => {
    const { threadId, runId } = await startThread(server, LONG_QUESTION);

    const sub = subscribeSse(server.url, RUN_EVENTS, { runId });
    await sub.completed;
    const events = eventsOf(sub, 'runEvents');
    expect(sub.results.every((r) => r.errors === undefined)).toBe(true);

    const last = events.at(-1)!;
    expect(last.__typename).toBe('RunStatusEvent');
    expect(last.run).toMatchObject({ id: runId, status: 'COMPLETED' });

    const deltas = events.filter((e): e is EventData => e.__typename === 'MessageDeltaEvent');
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    for (const d of deltas) {
      expect(d.runId).toBe(runId);
      expect(d.delta).toMatch(/^\S+\s*$/); // one word (with its following space) per delta
    }

    const { reply } = await runOf(server, runId);
    expect(reply.status).toBe('COMPLETED');
    // A client applying the events ends with exactly the stored content.
    expect(applyEvents(events).get(reply.id)).toBe(reply.content);

    // Replayed from the start, the thread's deltas are the reply split into words.
    const replay = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 });
    try {
      const lastEventSeq = (await server.gql(`query ($id: ID!) { thread(id: $id) { lastEventSeq } }`, { id: threadId })).data.thread.lastEventSeq;
      while (!eventsOf(replay, 'threadEvents').some((e) => e.seq === lastEventSeq)) await replay.waitFor(replay.results.length + 1);
      const replayed = eventsOf(replay, 'threadEvents').filter((e) => e.__typename === 'MessageDeltaEvent' && e.messageId === reply.id);
      expect(replayed.map((e) => e.delta)).toEqual(reply.content.match(/\S+\s*/g));
    } finally {
      replay.close();
    }
  });
});
