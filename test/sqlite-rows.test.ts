import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/store/sqlite/index.js';
import { filteredPage } from '../src/store/sqlite/pages.js';
import { assistants, messages, runs, threads } from '../src/store/sqlite/tables.js';
import type { PageWindow } from '../src/store/types.js';

/**
 * The hot SQLite reads (lookups by id, the pages of a thread or an owner) decode raw rows
 * themselves (src/store/sqlite/rows.ts); Drizzle's own select() is the slow path they must
 * match exactly: same keys in the same order, same values (JSON parsed, Dates, booleans, nulls).
 */

let store: SqliteStore;
const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

beforeAll(async () => {
  store = createSqliteStore(':memory:');
  const db = store.db;
  db.insert(assistants)
    .values([
      {
        id: 'asst_full', owner: 'alice', name: 'Full', description: 'every column', model: 'm-1', instructions: 'Be brief.', temperature: 0.25,
        truncation: { type: 'LAST_MESSAGES', lastMessages: 3 } as never, tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' } }] as never,
        metadata: { nested: '{"a": [1]}', 'ünï': 'çødé' }, createdAt: at(1), updatedAt: at(2),
      },
      { id: 'asst_bare', owner: 'alice', metadata: {}, createdAt: at(3), updatedAt: at(3) },
      { id: 'asst_other', owner: 'bob', metadata: {}, createdAt: at(4), updatedAt: at(4) },
    ])
    .run();
  db.insert(threads)
    .values([
      {
        id: 'thread_a', owner: 'alice', assistantId: 'asst_full', title: 'A "quoted" title', truncation: { type: 'AUTO' } as never, metadata: { k: 'v' },
        lastEventSeq: 12, windowEnd: 14, foreignSeq: 13, writer: 'instance-1', writerEpoch: 3, leaseUntil: at(99), createdAt: at(5), updatedAt: at(6),
      },
      { id: 'thread_b', owner: 'alice', metadata: {}, createdAt: at(7), updatedAt: at(7) },
      { id: 'thread_c', owner: 'bob', metadata: {}, createdAt: at(8), updatedAt: at(8) },
    ])
    .run();
  for (let i = 0; i < 9; i++) {
    db.insert(messages)
      .values({
        id: `msg_a${i}`, owner: 'alice', threadId: i === 4 ? 'thread_b' : 'thread_a', role: i % 3 === 0 ? 'USER' : i % 3 === 1 ? 'ASSISTANT' : 'SYSTEM',
        content: i === 2 ? '' : `Message ${i} ✓ with "quotes" and \n a newline`, refusal: i === 5 ? 'I cannot.' : null,
        status: i === 7 ? 'IN_PROGRESS' : i === 8 ? 'INCOMPLETE' : 'COMPLETED', runId: i % 2 ? `run_${i}` : null, idempotencyKey: i === 3 ? 'key-3' : null,
        metadata: i === 1 ? { deep: 'value', other: '' } : {}, createdAt: at(10 + i),
      })
      .run();
  }
  for (let i = 0; i < 6; i++) {
    db.insert(runs)
      .values({
        id: `run_${i}`, owner: 'alice', threadId: 'thread_a', assistantId: i === 0 ? 'asst_full' : null, status: i === 5 ? 'QUEUED' : i === 4 ? 'FAILED' : 'COMPLETED',
        model: 'm-1', instructions: i === 1 ? 'Answer.' : null, replyMessageId: i === 1 ? 'msg_a1' : null,
        tools: i === 2 ? ([{ type: 'function', name: 'g', parameters: {} }] as never) : null, toolChoice: i === 2 ? ({ type: 'FUNCTION', name: 'g' } as never) : null,
        parallelToolCalls: i === 2 ? true : i === 3 ? false : null, toolRounds: i === 2 ? ([{ calls: [] }] as never) : [], expiresAt: i === 3 ? at(50) : null,
        errorCode: i === 4 ? 'PROVIDER_AUTH' : null, errorMessage: i === 4 ? 'bad key' : null, incompleteReason: null,
        inputTokens: i === 1 ? 10 : null, outputTokens: i === 1 ? 20 : null, totalTokens: i === 1 ? 30 : null, temperature: i === 1 ? 1.5 : null,
        truncation: null, maxPromptTokens: i === 1 ? 1000 : null, maxCompletionTokens: null, metadata: { i: String(i) }, idempotencyKey: i === 1 ? 'idem-1' : null,
        createdAt: at(30 + i), startedAt: i < 5 ? at(31 + i) : null, completedAt: i < 5 ? at(32 + i) : null, cancelRequestedAt: i === 4 ? at(40) : null,
      })
      .run();
  }
});
afterAll(() => store?.close());

/** Equal as objects and as JSON (which also compares the order of the keys). */
function expectSame(fast: unknown, slow: unknown) {
  expect(fast).toStrictEqual(slow);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
}

describe('SQLite rows decoded without Drizzle match Drizzle', () => {
  it('lookups by id (with and without an owner) give the rows select() gives', async () => {
    const tables = [
      { table: assistants, store: store.assistants, ids: ['asst_full', 'asst_bare', 'asst_other'] },
      { table: threads, store: store.threads, ids: ['thread_a', 'thread_b', 'thread_c'] },
      { table: messages, store: store.messages, ids: Array.from({ length: 9 }, (_, i) => `msg_a${i}`) },
      { table: runs, store: store.runs, ids: Array.from({ length: 6 }, (_, i) => `run_${i}`) },
    ] as const;
    for (const { table, store: nouns, ids } of tables) {
      for (const id of ids) {
        const slow = store.db.select().from(table as typeof threads).where(eq(table.id, id)).get();
        expect(slow, id).toBeDefined();
        expectSame(await nouns.find(id), slow);
        expectSame(await nouns.find(id, slow!.owner), slow);
        expect(await nouns.find(id, 'nobody')).toBeUndefined();
      }
      expect(await nouns.find('no_such_id')).toBeUndefined();
      expectSame(await nouns.findMany([ids[0]!]), [store.db.select().from(table as typeof threads).where(eq(table.id, ids[0]!)).get()]);
    }
  });

  it('pages, in every window shape and both orders, give the rows the Drizzle query gives', async () => {
    const positions = (rows: { pos: number }[]) => rows.map((r) => r.pos);
    const scopes = [
      { name: 'messages of thread_a', table: messages, column: messages.threadId, value: 'thread_a', newestFirst: false, page: (w: PageWindow) => store.messages.page('thread_a', w) },
      { name: 'runs of thread_a', table: runs, column: runs.threadId, value: 'thread_a', newestFirst: false, page: (w: PageWindow) => store.runs.page('thread_a', w) },
      { name: 'assistants of alice', table: assistants, column: assistants.owner, value: 'alice', newestFirst: true, page: (w: PageWindow) => store.assistants.page('alice', w) },
      { name: 'threads of alice', table: threads, column: threads.owner, value: 'alice', newestFirst: true, page: (w: PageWindow) => store.threads.page({ owner: 'alice' }, w) },
    ] as const;
    let compared = 0;
    for (const scope of scopes) {
      const all = filteredPage(store.db, scope.table, eq(scope.column, scope.value), { after: null, before: null, fromEnd: false, limit: 100 }, scope.newestFirst);
      expect(all.length, scope.name).toBeGreaterThanOrEqual(2);
      const cuts = [null, ...positions(all)];
      for (const after of cuts) {
        for (const before of cuts) {
          for (const fromEnd of [false, true]) {
            for (const limit of [0, 1, 3, 100]) {
              const w = { after, before, fromEnd, limit };
              const slow = filteredPage(store.db, scope.table, eq(scope.column, scope.value), w, scope.newestFirst);
              expectSame(await scope.page(w), slow);
              compared += slow.length;
            }
          }
        }
      }
    }
    expect(compared, 'the windows were not all empty').toBeGreaterThan(100);
  });
});
