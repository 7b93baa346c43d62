import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/store/sqlite/index.js';
import type { NewThreadRow, StoreTx } from '../src/store/types.js';
import { onPostgres, removeTempDirs, tempDatabaseFile } from './helpers.js';
import { at } from './store-fixture-rows.js';

/**
 * SQLite transactions that queue up share one COMMIT (src/store/sqlite/group-commit.ts), each in
 * its own savepoint. Each caller must still see exactly what it saw with one COMMIT each: settled
 * only once its writes are durable, a failure of its own undoing only its own writes, a failed
 * COMMIT failing every transaction that shared it and keeping none of them.
 */

// SQLite's own store; on the PostgreSQL project tempDatabaseFile() is a PostgreSQL URL.
const sqliteOnly = !onPostgres;
let store: SqliteStore;
let file: string;
/** A second connection: what it sees is what is committed. */
let observer: Database.Database;
let begins = 0;
let restore: () => void;

beforeAll(() => {
  if (!sqliteOnly) return;
  file = tempDatabaseFile();
  // Groups of up to 16 as in production, with no time limit to speak of: a loaded machine (the whole suite at once) must not split them.
  store = createSqliteStore(file, { groupLimits: { maxUnits: 16, maxGroupMs: 60_000 } });
  observer = new Database(file, { readonly: true });
  // Every BEGIN, as the bench counts transactions (the statements share one prototype).
  const proto = Object.getPrototypeOf(store.db.$client.prepare('select 1')) as { run: (...args: unknown[]) => unknown };
  const run = proto.run;
  proto.run = function (this: { source: string }, ...args: unknown[]) {
    if (/^\s*begin\b/i.test(this.source)) begins++;
    return run.apply(this, args);
  };
  restore = () => (proto.run = run);
});
// Warm: the first transaction prepares its statements (slow enough to close a group early).
beforeAll(async () => {
  if (sqliteOnly) await insert(threadRow());
});
beforeEach(() => {
  begins = 0;
});
afterAll(async () => {
  restore?.();
  observer?.close();
  await store?.close();
  removeTempDirs();
});

let serial = 0;
const threadRow = (id = `thread_group${++serial}`): NewThreadRow => ({
  id, owner: 'alice', assistantId: null, title: null, truncation: null, metadata: {},
  lastEventSeq: 0, windowEnd: 0, foreignSeq: 0, writer: null, writerEpoch: 0, leaseUntil: null, createdAt: at(1), updatedAt: at(1),
});
const committed = (id: string) => observer.prepare('select count(*) as n from threads where id = ?').get(id) as { n: number };
const isStored = (id: string) => committed(id).n === 1;

/** A transaction inserting a thread; `then` runs inside it after the insert (to fail it, say). */
const insert = (row: NewThreadRow, then?: (tx: StoreTx) => unknown) =>
  store.transaction(async (tx) => {
    await tx.insertThreadWith(row, [], null);
    await then?.(tx);
    return row.id;
  });

/** A foreign key checked at COMMIT only: the COMMIT itself is refused. */
const breakTheCommit = () => {
  store.db.$client.pragma('defer_foreign_keys = ON');
  store.db.$client
    .prepare("insert into messages (id, owner, thread_id, role, content, status, metadata, created_at) values (?, 'alice', 'thread_none', 'USER', '', 'COMPLETED', '{}', 0)")
    .run(`msg_orphan${++serial}`);
};

/** Several transactions that queue up together: the first holds the store for a moment, as a run's transaction does. */
function together<T>(...transactions: (() => Promise<T>)[]): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(transactions.map((start) => start()));
}

describe.skipIf(!sqliteOnly)('SQLite group commit', () => {
  it('transactions that queue up share one COMMIT, and each settles only once its rows are committed', async () => {
    const rows = Array.from({ length: 8 }, () => threadRow());
    const seenAtSettle: boolean[] = [];
    const results = await together(...rows.map((row) => () => insert(row).then((id) => (seenAtSettle.push(isStored(id)), id))));
    expect(results.map((r) => r.status)).toEqual(rows.map(() => 'fulfilled'));
    expect(seenAtSettle).toEqual(rows.map(() => true));
    expect(begins).toBe(1);
  });

  it('a transaction that the same turn of the event loop starts (another request, another chunk) joins the group', async () => {
    const [a, b] = [threadRow(), threadRow()];
    const first = insert(a);
    const second = new Promise<string>((resolve, reject) => setImmediate(() => insert(b).then(resolve, reject)));
    await Promise.all([first, second]);
    expect(isStored(a.id) && isStored(b.id)).toBe(true);
    expect(begins).toBe(1);
  });

  it('a transaction on the way to a first token (atOnce) does not wait a turn for others', async () => {
    const [a, b] = [threadRow(), threadRow()];
    const first = store.transaction((tx) => tx.insertThreadWith(a, [], null), { atOnce: true });
    const second = new Promise<unknown>((resolve, reject) => setImmediate(() => insert(b).then(resolve, reject)));
    await Promise.all([first, second]);
    expect(isStored(a.id) && isStored(b.id)).toBe(true);
    expect(begins).toBe(2);
  });

  it('a transaction alone commits by itself, at once', async () => {
    const row = threadRow();
    await insert(row);
    expect(isStored(row.id)).toBe(true);
    expect(begins).toBe(1);
  });

  it("a transaction that fails in a group is undone alone: its caller gets its error, the others' rows are committed", async () => {
    const [a, b, c] = [threadRow(), threadRow(), threadRow()];
    const results = await together(
      () => insert(a),
      () =>
        insert(b, () => {
          throw new Error('b changed its mind');
        }),
      () => insert(c),
    );
    expect(results[0]).toEqual({ status: 'fulfilled', value: a.id });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { message: 'b changed its mind' } });
    expect(results[2]).toEqual({ status: 'fulfilled', value: c.id });
    expect([a, b, c].map((r) => isStored(r.id))).toEqual([true, false, true]);
    expect(begins).toBe(1);
  });

  it('a statement the database refuses in a group (a duplicate id) undoes that transaction alone', async () => {
    const [a, c] = [threadRow(), threadRow()];
    const b = threadRow(a.id);
    const results = await together(() => insert(a), () => insert({ ...b, title: 'the duplicate' }), () => insert(c));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE|PRIMARY KEY/);
    expect(isStored(a.id) && isStored(c.id)).toBe(true);
    expect(observer.prepare('select title from threads where id = ?').get(a.id)).toEqual({ title: null });
  });

  it('a transaction refused in a group hears of it only after the COMMIT: what refused it is committed by then', async () => {
    const a = threadRow();
    let aCommittedWhenRefused: boolean | undefined;
    const results = await together(
      () => insert(a),
      () =>
        insert({ ...threadRow(a.id), title: 'the duplicate' }).catch((error: unknown) => {
          aCommittedWhenRefused = isStored(a.id);
          throw error;
        }),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(aCommittedWhenRefused).toBe(true);
  });

  it('a transaction refused in a group whose COMMIT then fails gets the COMMIT error (what refused it is gone too)', async () => {
    const [a, c] = [threadRow(), threadRow()];
    const results = await together(
      () => insert(a),
      () => insert({ ...threadRow(a.id), title: 'the duplicate' }),
      () => insert(c, breakTheCommit),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of results) expect(String((r as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(isStored(a.id) || isStored(c.id)).toBe(false);
  });

  it('close() lets queued transactions commit before it closes the connection', async () => {
    const closing = createSqliteStore(tempDatabaseFile());
    const rows = [threadRow(), threadRow(), threadRow()];
    const pending = rows.map((row) => closing.transaction((tx) => tx.insertThreadWith(row, [], null)));
    await closing.close();
    const stored = await Promise.allSettled(pending);
    expect(stored.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });

  it('a COMMIT that fails fails every transaction of its group, and none of them is kept', async () => {
    const [a, b, c] = [threadRow(), threadRow(), threadRow()];
    const results = await together(
      () => insert(a),
      () => insert(b, breakTheCommit),
      () => insert(c),
    );
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const r of results) expect(String((r as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect([a, b, c].map((r) => isStored(r.id))).toEqual([false, false, false]);
    // The store goes on: the next transaction commits.
    const d = threadRow();
    await insert(d);
    expect(isStored(d.id)).toBe(true);
  });

  it('when SQLite rolls the whole transaction back, the earlier transactions of the group fail too; later ones commit', async () => {
    const [a, b, c] = [threadRow(), threadRow(), threadRow()];
    const results = await together(
      () => insert(a),
      () =>
        insert(b, () => {
          // As SQLite does by itself on SQLITE_FULL: the transaction is gone.
          store.db.$client.prepare('rollback').run();
          throw new Error('the disk is full');
        }),
      () => insert(c),
    );
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: 'the disk is full' } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { message: 'the disk is full' } });
    expect(results[2]).toEqual({ status: 'fulfilled', value: c.id });
    expect([a, b, c].map((r) => isStored(r.id))).toEqual([false, false, true]);
  });

  it('a read asked for while a group is open waits for its COMMIT and sees its rows', async () => {
    const [a, b] = [threadRow(), threadRow()];
    const first = insert(a);
    const read = store.threads.find(a.id);
    const second = insert(b);
    expect((await read)?.id).toBe(a.id);
    await Promise.all([first, second]);
  });
});
