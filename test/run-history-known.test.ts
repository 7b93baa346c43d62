import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { LlmProvider, LlmRequest } from '../src/llm/types.js';
import { startServer, type RunningServer } from '../src/server.js';
import { buildRunInput } from '../src/services/runs/history.js';
import { removeTempDirs, tempDatabaseFile } from './helpers.js';

/**
 * A run's first leg is given the rows the request that started it wrote or read (KnownRows in
 * src/services/runs/history.ts) instead of reading them again. What the provider receives
 * must be what the store-reading path builds for the same run: each request recorded at
 * launch is compared with buildRunInput from the store alone, for runs started by
 * createThread (the whole thread known), sendMessage, and the Assistants API's runs.create
 * and createAndRun, with an assistant's instructions and truncation in play.
 */
describe('run input from the starting request (fast path) = run input read from the store', () => {
  const sent: Omit<LlmRequest, 'signal'>[] = [];
  /** A request whose last message is "hold" waits for this before its first output. */
  let gate: Promise<void> = Promise.resolve();
  const llm: LlmProvider = {
    async *stream({ signal: _, ...request }) {
      sent.push(request);
      if (request.messages.at(-1)?.content === 'hold') await gate;
      yield { type: 'delta', text: `answer ${sent.length}` };
      yield { type: 'done', finishReason: 'stop', usage: null };
    },
  };
  let server: RunningServer;
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data: any; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data;
  };
  const v1 = async (path: string, body: unknown) => {
    const res = await fetch(new URL(`/v1${path}`, server.url), { method: 'POST', headers: { 'content-type': 'application/json', 'openai-beta': 'assistants=v2' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    return (await res.json()) as any;
  };
  const completed = async (count: number) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const runs = await server.services.store.runs.withStatus('COMPLETED');
      if (runs.length >= count || Date.now() > deadline) return runs.sort((x, y) => x.pos - y.pos);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATABASE_URL: tempDatabaseFile(), LOG_LEVEL: 'silent', FLUSH_INTERVAL_MS: '20' });

  beforeAll(async () => {
    server = await startServer(config, { llm });
  });
  afterAll(async () => {
    await server.stop();
    removeTempDirs();
  });

  it('gives the provider what the store-reading path builds, run by run', async () => {
    const assistant = await gql(`mutation { createAssistant(input: { name: "a", instructions: "Be brief.", truncationStrategy: { type: LAST_MESSAGES, lastMessages: 5 } }) { assistant { id } } }`);
    const assistantId = assistant.createAssistant.assistant.id as string;
    const REPLY = `reply { status }`;
    const created = await gql(
      `mutation ($a: ID!) { createThread(input: { assistantId: $a, messages: [{ role: SYSTEM, content: "ctx" }, { role: USER, content: "one" }, { role: ASSISTANT, content: "two" }, { role: USER, content: "three" }] }) { thread { id } ${REPLY} } }`,
      { a: assistantId },
    );
    const threadId = created.createThread.thread.id as string;
    for (const content of ['four', 'five', 'six', 'seven']) {
      await gql(`mutation ($t: ID!, $c: String!) { sendMessage(input: { threadId: $t, content: $c }) { ${REPLY} } }`, { t: threadId, c: content });
    }
    const plain = await gql(`mutation { createThread(input: { messages: [{ role: USER, content: "alone" }] }) { thread { id } ${REPLY} } }`);
    await gql(`mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "again", instructions: "Own instructions." }) { ${REPLY} } }`, { t: plain.createThread.thread.id });

    // The Assistants API: a run on the thread with an additional user message, then createAndRun (no user message last).
    const v1Assistant = await v1('/assistants', { model: 'm', instructions: 'V1 instructions.' });
    await v1(`/threads/${threadId}/runs`, { assistant_id: v1Assistant.id, additional_messages: [{ role: 'user', content: 'eight' }] });
    await completed(8);
    await v1('/threads/runs', { assistant_id: v1Assistant.id, thread: { messages: [{ role: 'user', content: 'nine' }, { role: 'assistant', content: 'ten' }] } });
    const expected = 1 + 4 + 1 + 1 + 1 + 1;
    const runs = await completed(expected);
    expect(runs).toHaveLength(expected);
    expect(sent).toHaveLength(expected);
    const { store } = server.services;
    for (const [i, run] of runs.entries()) {
      const { overBudget: _, ...fromStore } = await buildRunInput(store, run, config.llm.maxInputTokens);
      expect({ instructions: sent[i]!.instructions, temperature: sent[i]!.temperature, messages: sent[i]!.messages }, `run ${i + 1}`).toEqual(fromStore);
    }
    // The cases are real: the truncation dropped messages, instructions came from run and assistants.
    expect(sent[4]!.messages.length).toBe(5);
    expect(sent.map((r) => r.instructions)).toContain('Own instructions.');
    expect(sent.at(-1)!.messages.map((m) => m.content)).toEqual(['nine', 'ten']);
  });

  it('a queued run whose predecessor replied after its own message: the reply read from the store, placed after its question', async () => {
    let open!: () => void;
    gate = new Promise<void>((resolve) => (open = resolve));
    const created = await gql(`mutation { createThread(input: { messages: [{ role: USER, content: "hold" }] }) { thread { id } run { id } } }`);
    const threadId = created.createThread.thread.id as string;
    // Queued while the first run has written nothing: its reply row comes after this message.
    const queued = gql(`mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "next", onActiveRun: ENQUEUE }) { run { id } reply { status } } }`, { t: threadId });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = sent.length;
    open();
    await queued;
    const request = sent[before]!;
    expect(request.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'hold'],
      ['assistant', `answer ${before}`],
      ['user', 'next'],
    ]);
    const { store } = server.services;
    const stored = await store.messages.newestFirst(threadId, null, 10);
    // Stored order: hold, next, then the first run's reply.
    expect(stored.map((m) => m.content).reverse()).toEqual(['hold', 'next', `answer ${before}`, `answer ${before + 1}`]);
  });
});
