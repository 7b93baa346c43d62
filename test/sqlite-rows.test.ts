import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/store/sqlite/index.js';
import { filteredPage } from '../src/store/sqlite/pages.js';
import { assistants, messages, runs, threads } from '../src/store/sqlite/tables.js';
import type { PageWindow } from '../src/store/types.js';
import { at, fixtureAssistants, fixtureMessages, fixtureRuns, fixtureThreads } from './store-fixture-rows.js';

/**
 * The hot SQLite reads (lookups by id, the pages of a thread or an owner) decode raw rows
 * themselves (src/store/sqlite/rows.ts); Drizzle's own select() is the slow path they must
 * match exactly: same keys in the same order, same values (JSON parsed, Dates, booleans, nulls).
 */

let store: SqliteStore;

beforeAll(async () => {
  store = createSqliteStore(':memory:');
  const db = store.db;
  db.insert(assistants).values(fixtureAssistants).run();
  db.insert(threads).values(fixtureThreads).run();
  for (const row of fixtureMessages) db.insert(messages).values(row).run();
  for (const row of fixtureRuns) db.insert(runs).values(row).run();
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
