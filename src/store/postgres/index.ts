import { sql } from 'drizzle-orm';
import pg from 'pg';
import { CommitUnknownError } from '../errors.js';
import type { Store, StoreTx } from '../types.js';
import { createPgDb, migratePg, type PgDb, type PgOptions } from './client.js';
import { guarded } from './driver-errors.js';
import { assistantStore, eventStore, keyStore, messageStore, runStore, threadStore } from './nouns.js';
import { leaseStore } from './leases.js';
import { pgTx } from './tx.js';

export interface PostgresStore extends Store {
  readonly kind: 'postgres';
  /** The Drizzle database on its pool (tests reach it; services never do). */
  readonly db: PgDb;
}

/**
 * The PostgreSQL store: a node-postgres pool behind Drizzle. Unlike SQLite's single connection,
 * transactions are real and concurrent, each on its own pooled connection (READ COMMITTED);
 * the rules that must hold under concurrency are the database's (unique indexes, conditional
 * updates, the thread row's counter and lock). Migrates on open, under an advisory lock.
 */
export async function createPostgresStore(url: string, options: PgOptions = {}): Promise<PostgresStore> {
  const db = createPgDb(url, options);
  try {
    await guarded(() => migratePg(db));
  } catch (error) {
    await db.$client.end().catch(() => {});
    throw error;
  }
  let closed: Promise<void> | null = null;
  return {
    kind: 'postgres',
    db,
    assistants: assistantStore(db),
    threads: threadStore(db),
    messages: messageStore(db),
    runs: runStore(db),
    events: eventStore(db),
    keys: keyStore(db),
    leases: leaseStore(db),
    transaction: (work) => guarded(() => transaction(db, work)),
    ping: () => guarded(async () => void (await db.execute(sql`select 1`))),
    // A pool already ended (a test cutting the database off) has nothing left to close.
    close: () => (closed ??= db.$client.ending ? Promise.resolve() : db.$client.end()),
  };
}

/**
 * One transaction on one pooled connection. Not Drizzle's db.transaction(): when BEGIN fails (the
 * connection just died) it never releases the connection, so an outage of a few seconds drains
 * the pool for good and close() waits forever; and a failed ROLLBACK hides the original error
 * and returns the broken connection to the pool. Here the connection always goes back, and a
 * connection whose BEGIN, COMMIT or ROLLBACK failed is discarded. A COMMIT with no answer is a
 * CommitUnknownError (it may have been stored). Errors of the work itself pass
 * unchanged (they are store errors already); the caller translates the rest.
 */
async function transaction<T>(db: PgDb, work: (tx: StoreTx) => Promise<T>): Promise<T> {
  const client = await db.$client.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin').catch((error: Error) => {
      throw (broken = error);
    });
    try {
      const tx = pgTx(client);
      const result = await work(tx);
      await tx.storeHeld();
      await client.query('commit').catch((error: Error) => {
        broken = error;
        // The server answered (an error with a SQLSTATE): it rolled back. No answer: it may have committed.
        throw error instanceof pg.DatabaseError ? error : new CommitUnknownError(`the database did not confirm the commit, which may have been stored: ${error.message}`, { cause: error });
      });
      return result;
    } catch (error) {
      if (!broken) await client.query('rollback').catch((rollbackError: Error) => void (broken = rollbackError));
      throw error;
    }
  } finally {
    client.release(broken);
  }
}
