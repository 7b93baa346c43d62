import type { Logger } from 'pino';
import { createPostgresStore, type PostgresStore } from './postgres/index.js';
import { createSqliteStore, type SqliteStore } from './sqlite/index.js';

/** The store a server runs on, by DATABASE_URL. */
export type AppStore = SqliteStore | PostgresStore;

export type Backend = 'sqlite' | 'postgres';

/**
 * `postgres://` or `postgresql://`: PostgreSQL. Any other `scheme://` is a mistake (a MySQL URL,
 * a typo) that must not silently become a SQLite file named after it. Anything else is a SQLite
 * file path (or `:memory:`). Windows drive letters (`C:\…`) have no `//` and stay paths.
 */
export function backendOf(databaseUrl: string): Backend {
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return 'postgres';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(databaseUrl)?.[1];
  if (scheme) {
    throw new Error(
      `DATABASE_URL uses the unsupported scheme "${scheme}://": use postgres:// (or postgresql://) for PostgreSQL, or a file path for SQLite.`,
    );
  }
  return 'sqlite';
}

/** DATABASE_URL for logs: a PostgreSQL URL without its password. */
export function describeDatabase(databaseUrl: string): string {
  if (backendOf(databaseUrl) === 'sqlite') return `SQLite ${databaseUrl}`;
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return `PostgreSQL ${url.toString()}`;
  } catch {
    return 'PostgreSQL (DATABASE_URL is not a valid URL)';
  }
}

/**
 * Opens and migrates the store DATABASE_URL names. A server holds its SQLite file alone
 * (`lock`); on PostgreSQL instances share the database, and migrations take an advisory lock.
 */
export async function createStore(databaseUrl: string, options: { lock?: boolean; logger?: Logger; idleInTransactionMs?: number } = {}): Promise<AppStore> {
  if (backendOf(databaseUrl) === 'postgres') {
    return createPostgresStore(databaseUrl, {
      onIdleError: (err) => options.logger?.warn({ err }, 'a PostgreSQL connection failed; the pool opens a new one when needed'),
      idleInTransactionMs: options.idleInTransactionMs,
    });
  }
  return createSqliteStore(databaseUrl, { lock: options.lock });
}
