import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/store/postgres/index.js';
import { page } from '../src/store/postgres/pages.js';
import { apiKeys, assistants, messages, runs, threads } from '../src/store/postgres/tables.js';
import type { PageWindow } from '../src/store/types.js';
import { at, fixtureAssistants, fixtureMessages, fixtureRuns, fixtureThreads } from './store-fixture-rows.js';
import { createTestDatabase, dropTestDatabases, onPostgres } from './test-database.js';

/**
 * On PostgreSQL the hot reads (lookups by id, the pages of a thread or an owner) are named
 * prepared statements; the query built at each call (`page`, a plain select) is the slow path
 * they must match exactly. (The SQLite twin is sqlite-rows.test.ts.)
 */

let store: PostgresStore;

describe.skipIf(!onPostgres)('PostgreSQL prepared reads match the queries built at each call', () => {
  beforeAll(async () => {
    store = await createPostgresStore(createTestDatabase());
    const db = store.db;
    await db.insert(assistants).values(fixtureAssistants);
    await db.insert(threads).values(fixtureThreads);
    for (const row of fixtureMessages) await db.insert(messages).values(row);
    for (const row of fixtureRuns) await db.insert(runs).values(row);
  });
  afterAll(async () => {
    await store?.close();
    dropTestDatabases();
  });

  it('lookups by id (with and without an owner) give the rows a select gives', async () => {
    const tables = [
      { table: assistants, nouns: store.assistants, ids: ['asst_full', 'asst_bare', 'asst_other'] },
      { table: threads, nouns: store.threads, ids: ['thread_a', 'thread_b', 'thread_c'] },
      { table: messages, nouns: store.messages, ids: Array.from({ length: 9 }, (_, i) => `msg_a${i}`) },
      { table: runs, nouns: store.runs, ids: Array.from({ length: 6 }, (_, i) => `run_${i}`) },
    ] as const;
    for (const { table, nouns, ids } of tables) {
      for (const id of ids) {
        const [slow] = await store.db.select().from(table as typeof threads).where(eq(table.id, id));
        expect(slow, id).toBeDefined();
        expect(await nouns.find(id)).toStrictEqual(slow);
        expect(await nouns.find(id, slow!.owner)).toStrictEqual(slow);
        expect(await nouns.find(id, 'nobody')).toBeUndefined();
      }
      expect(await nouns.find('no_such_id')).toBeUndefined();
    }
  });

  it('API keys: by id, by hash, and whether any exists, as a select gives them', async () => {
    expect(await store.keys.any()).toBe(false);
    await store.db.insert(apiKeys).values([
      { id: 'key_live', owner: 'alice', hash: 'a'.repeat(64), prefix: 'tql_aaaaaa', createdAt: at(60), revokedAt: null },
      { id: 'key_revoked', owner: 'bob', hash: 'b'.repeat(64), prefix: 'tql_bbbbbb', createdAt: at(61), revokedAt: at(62) },
    ]);
    expect(await store.keys.any()).toBe(true);
    for (const id of ['key_live', 'key_revoked']) {
      const [slow] = await store.db.select().from(apiKeys).where(eq(apiKeys.id, id));
      expect(await store.keys.find(id)).toStrictEqual(slow);
      expect(await store.keys.byHash(slow!.hash)).toStrictEqual(slow);
    }
    expect(await store.keys.find('key_none')).toBeUndefined();
    expect(await store.keys.byHash('c'.repeat(64))).toBeUndefined();
  });

  it('pages, in every window shape and both orders, give the rows the query built at each call gives', async () => {
    const scopes = [
      { table: messages, column: messages.threadId, value: 'thread_a', newestFirst: false, read: (w: PageWindow) => store.messages.page('thread_a', w) },
      { table: runs, column: runs.threadId, value: 'thread_a', newestFirst: false, read: (w: PageWindow) => store.runs.page('thread_a', w) },
      { table: assistants, column: assistants.owner, value: 'alice', newestFirst: true, read: (w: PageWindow) => store.assistants.page('alice', w) },
      { table: threads, column: threads.owner, value: 'alice', newestFirst: true, read: (w: PageWindow) => store.threads.page({ owner: 'alice' }, w) },
    ] as const;
    let compared = 0;
    for (const scope of scopes) {
      const all = await page(store.db, scope.table, eq(scope.column, scope.value), { after: null, before: null, fromEnd: false, limit: 100 }, scope.newestFirst);
      const cuts = [null, ...all.map((r) => r.pos)];
      for (const after of cuts) {
        for (const before of cuts) {
          for (const fromEnd of [false, true]) {
            for (const limit of [0, 1, 3, 100]) {
              const w = { after, before, fromEnd, limit };
              const slow = await page(store.db, scope.table, eq(scope.column, scope.value), w, scope.newestFirst);
              expect(await scope.read(w)).toStrictEqual(slow);
              compared += slow.length;
            }
          }
        }
      }
    }
    expect(compared, 'the windows were not all empty').toBeGreaterThan(100);
  });
});
