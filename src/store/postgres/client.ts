import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import * as schema from './tables.js';

export type PgDb = NodePgDatabase<typeof schema> & { $client: pg.Pool };

const migrationsFolder = resolve(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Any constant both sides agree on: every threadql instance takes this session-level advisory
 * lock around its migrations, so instances starting together apply them once, one after the
 * other (drizzle's migrate() alone races: drizzle-orm#874).
 */
const MIGRATION_LOCK_KEY = 7_140_351_001;

export interface PgOptions {
  /** A pooled connection failed (its backend died, the network went): logged, never a crash. */
  onIdleError?: (error: Error) => void;
  /** Pool size (default 10). */
  max?: number;
  /**
   * PostgreSQL ends a session idle inside a transaction this long (idle_in_transaction_session_timeout):
   * a frozen instance (a long pause, SIGSTOP) cannot hold a thread's row lock, and so its run, past its lease.
   */
  idleInTransactionMs?: number;
}

/** A pool on `url`. Nothing connects until the first query. */
export function createPgDb(url: string, options: PgOptions = {}): PgDb {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    // An unreachable database fails requests within seconds instead of queueing them forever.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'threadql',
    ...(options.idleInTransactionMs ? { idle_in_transaction_session_timeout: options.idleInTransactionMs } : {}),
  });
  // Without a listener a client whose backend died emits an unhandled 'error' and kills the process:
  // the pool listens on idle clients only, so every client also gets its own listener (a checked-out
  // one dies between the statements of a transaction; its next query rejects, which the caller sees).
  pool.on('error', (error) => options.onIdleError?.(error));
  pool.on('connect', (client) => client.on('error', (error) => options.onIdleError?.(error)));
  return drizzle(pool, { schema }) as PgDb;
}

/** Applies the committed migrations, holding the migration lock on one connection throughout. */
export async function migratePg(db: PgDb): Promise<void> {
  const client = await db.$client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle(client, { schema }), { migrationsFolder });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
