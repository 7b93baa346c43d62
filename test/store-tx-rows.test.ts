import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageDeltaEvent } from '../src/services/events/types.js';
import { createStore, type AppStore } from '../src/store/index.js';
import type { NewMessageRow, NewRunRow, NewThreadRow, RunEnd } from '../src/store/types.js';
import { removeTempDirs, tempDatabaseFile } from './helpers.js';
import { at } from './store-fixture-rows.js';
import { dropTestDatabases } from './test-database.js';

/**
 * A run's transactions write without reading back (src/store/*\/tx.ts): inserts build their
 * rows from what they were given (the database's `pos` added), a thread inserted by the
 * transaction answers lockThread without a read, appended text is held and written with the
 * message's status change (or before COMMIT), a transaction's events are multi-row inserts.
 * What those writes return must be what the store reads back afterwards, on both backends.
 */
describe('the rows a transaction returns are the rows stored', () => {
  let store: AppStore;
  beforeAll(async () => {
    store = await createStore(tempDatabaseFile());
  });
  afterAll(async () => {
    await store?.close();
    removeTempDirs();
    dropTestDatabases();
  });

  const thread: NewThreadRow = {
    id: 'thread_tx', owner: 'alice', assistantId: null, title: 'A "title"', truncation: { type: 'LAST_MESSAGES', lastMessages: 2 }, metadata: { k: 'v', 'ünï': '' },
    lastEventSeq: 0, windowEnd: 0, foreignSeq: 0, writer: null, writerEpoch: 0, leaseUntil: null, createdAt: at(1), updatedAt: at(1),
  };
  const message = (i: number, runId: string | null): NewMessageRow => ({
    id: `msg_tx${i}`, owner: 'alice', threadId: thread.id, role: i === 0 ? 'SYSTEM' : 'USER', content: `Message ${i} ✓\n"quoted"`, refusal: null,
    status: 'COMPLETED', runId, idempotencyKey: i === 1 ? 'key-1' : null, metadata: i === 1 ? { a: 'b' } : {}, createdAt: at(2),
  });
  const run: NewRunRow = {
    id: 'run_tx', owner: 'alice', threadId: thread.id, assistantId: null, status: 'IN_PROGRESS', model: 'm-1', instructions: 'Be brief.', replyMessageId: null,
    tools: [{ name: 'f', description: null, parameters: { type: 'object', properties: {} }, strict: true }], toolChoice: { mode: 'AUTO', functionName: null },
    parallelToolCalls: false, toolRounds: [], expiresAt: null, errorCode: null, errorMessage: null, incompleteReason: null, inputTokens: null, outputTokens: null,
    totalTokens: null, temperature: 0.25, truncation: null, maxPromptTokens: 100, maxCompletionTokens: null, metadata: { m: '1' }, idempotencyKey: 'run-key',
    createdAt: at(3), startedAt: at(4), completedAt: null, cancelRequestedAt: null,
  };
  const reply: NewMessageRow = { ...message(9, run.id), id: 'msg_reply', role: 'ASSISTANT', content: '', status: 'IN_PROGRESS', idempotencyKey: null, createdAt: at(5) };
  const delta = (seq: number, text: string): MessageDeltaEvent => ({ kind: 'MESSAGE_DELTA', seq, threadId: thread.id, runId: run.id, messageId: reply.id, delta: text });

  it('a new thread with its messages (in order) and run; its sequencer known without a read', async () => {
    const { stored, known } = await store.transaction(async (tx) => {
      const stored = await tx.insertThreadWith(thread, [message(0, null), message(1, run.id), message(2, null)], run);
      return { stored, known: await tx.lockThread(thread.id) };
    });
    expect(stored.thread).toEqual(await store.threads.find(thread.id));
    expect(stored.run).toEqual(await store.runs.find(run.id));
    expect(stored.messages).toEqual(await store.messages.findMany(stored.messages.map((m) => m.id)));
    for (const m of stored.messages) expect(m).toEqual(await store.messages.find(m.id));
    const positions = stored.messages.map((m) => m.pos);
    expect(positions).toEqual([...positions].sort((x, y) => x - y));
    expect(new Set(positions).size).toBe(3);
    // What a read of the stored row says (a later transaction reads it).
    expect(known).toEqual(await store.transaction((tx) => tx.lockThread(thread.id)));
  });

  it('a reply, its streamed text held and written with its status change, the run ended with it', async () => {
    const replyRow = await store.transaction(async (tx) => {
      await tx.lockThread(thread.id);
      const row = await tx.insertMessage(reply);
      await tx.setRunReply(run.id, row.id);
      return row;
    });
    expect(replyRow).toEqual(await store.messages.find(reply.id));
    expect((await store.runs.find(run.id))?.replyMessageId).toBe(reply.id);

    // Text held to the end of a transaction that changes nothing else of the message.
    await store.transaction(async (tx) => {
      await tx.appendMessageText(reply.id, 'Hello');
      await tx.appendMessageText(reply.id, ', ');
    });
    expect((await store.messages.find(reply.id))?.content).toBe('Hello, ');

    const end: RunEnd = { status: 'COMPLETED', completedAt: at(9), errorCode: null, errorMessage: null, incompleteReason: null, inputTokens: 3, outputTokens: null, totalTokens: 3 };
    const ended = await store.transaction(async (tx) => {
      await tx.lockThread(thread.id);
      await tx.appendMessageText(reply.id, 'world');
      return tx.endRunWithReply(run.id, end, ['IN_PROGRESS'], 'I cannot.');
    });
    expect(ended?.reply).toMatchObject({ content: 'Hello, world', status: 'COMPLETED', refusal: 'I cannot.' });
    expect(ended?.run).toMatchObject({ status: 'COMPLETED', inputTokens: 3, outputTokens: null, totalTokens: 3, completedAt: at(9) });
    expect(ended?.run).toEqual(await store.runs.find(run.id));
    expect(ended?.reply).toEqual(await store.messages.find(reply.id));
    // Stored already: nothing changes, nothing returned.
    expect(await store.transaction((tx) => tx.endRunWithReply(run.id, end, ['IN_PROGRESS'], null))).toBeNull();
    expect((await store.messages.find(reply.id))?.refusal).toBe('I cannot.');
  });

  it("the thread's next QUEUED run is the oldest one, read whole", async () => {
    expect(await store.runs.nextQueued(thread.id)).toBeUndefined();
    const queued = (i: number): NewRunRow => ({ ...run, id: `run_q${i}`, status: 'QUEUED', startedAt: null, idempotencyKey: null, createdAt: at(20 + i) });
    await store.transaction(async (tx) => {
      await tx.lockThread(thread.id);
      await tx.insertRun(queued(1));
      await tx.insertRun(queued(2));
    });
    const next = await store.runs.nextQueued(thread.id);
    expect(next?.id).toBe('run_q1');
    expect(next).toEqual(await store.runs.find('run_q1'));
  });

  it('a transaction of more events than one insert takes stores them all, in order', async () => {
    const events = Array.from({ length: 150 }, (_, i) => delta(i + 1, `d${i}`));
    await store.transaction(async (tx) => {
      const row = await tx.lockThread(thread.id);
      if (!row || row === 'locked') throw new Error('no thread');
      await tx.insertEvents(events.slice(0, 5), at(10));
      await tx.insertEvents(events.slice(5), at(10));
      await tx.setThreadSeqs(thread.id, { hw: 150, windowEnd: 150, foreignSeq: 0, writer: null, writerEpoch: row.writerEpoch });
    });
    const read = await store.events.readAfter(thread.id, 0, 1000);
    expect(read).toEqual(events);
  });
});
