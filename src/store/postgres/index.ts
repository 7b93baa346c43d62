import { sql } from 'drizzle-orm';
import type { Store } from '../types.js';
import { createPgDb, migratePg, type PgDb, type PgOptions } from './client.js';
import { drizzle } from 'drizzle-orm/node-postgres';
import { StorageError } from '../errors.js';
import { guarded, toStoreError } from './driver-errors.js';
import * as schema from './tables.js';
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
/**
 * A transaction on a connection this store checks out and always gives back: Drizzle's own
 * pool transaction never releases its client when BEGIN fails (its `finally` starts after
 * BEGIN), so a database lost for a moment would leak a connection per attempt and the pool's
 * end would wait for them forever. A connection that failed is destroyed, not reused.
 */
async function onOwnConnection<T>(db: PgDb, work: (tx: PgDb) => Promise<T>): Promise<T> {
  const client = await db.$client.connect();
  let failure: Error | undefined;
  try {
    return await work(drizzle(client, { schema }) as unknown as PgDb);
  } catch (error) {
    if (toStoreError(error) instanceof StorageError) failure = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.release(failure);
  }
}

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
    // Errors of the work itself pass unchanged (they are store errors already); BEGIN and COMMIT are translated.
    transaction: (work) => guarded(() => onOwnConnection(db, (tx) => tx.transaction((inner) => work(pgTx(inner))))),
    ping: () => guarded(async () => void (await db.execute(sql`select 1`))),
    // A pool already ended (a test cutting the database off) has nothing left to close.
    close: () => (closed ??= db.$client.ending ? Promise.resolve() : db.$client.end()),
  };
}
