import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { TestServer } from './helpers.js';

/**
 * Which backend this test process runs on. vitest.config.ts runs every file twice: the `sqlite`
 * project, and the `postgres` project (TEST_BACKEND=postgres) when TEST_POSTGRES_URL is set. On
 * PostgreSQL, each "database file" is a fresh database created from the admin URL and dropped
 * (`with (force)`) when the file's temporary databases are removed.
 */
export const onPostgres = process.env.TEST_BACKEND === 'postgres';
const adminUrl = process.env.TEST_POSTGRES_URL ?? '';
if (onPostgres && !adminUrl) throw new Error('TEST_BACKEND=postgres needs TEST_POSTGRES_URL (an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)');

/** Prefix of the databases of this `vitest run` (set by test/postgres-setup.ts), so teardown drops only its own. */
export const databasePrefix = `tql_${process.env.TEST_POSTGRES_RUN ?? 'x'}_`;

/** SQL on the admin connection, synchronously (psql): tests ask for a database where they ask for a file name. */
export function adminSql(statement: string): string {
  return execFileSync('psql', ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', adminUrl, '-c', statement], { encoding: 'utf8' });
}

const created: string[] = [];

/** A fresh, empty PostgreSQL database; its URL. */
export function createTestDatabase(): string {
  const name = `${databasePrefix}${process.pid}_${randomBytes(4).toString('hex')}`;
  adminSql(`create database ${name}`);
  created.push(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops the databases this process created (servers still connected are cut off). */
export function dropTestDatabases(): void {
  for (const name of created.splice(0)) adminSql(`drop database if exists ${name} with (force)`);
}

/**
 * SQL on the server's own database, whichever the backend: `?` placeholders, rows as objects.
 * For checks through the back door (how many rows exist) and for fencing tables in fault tests.
 * On PostgreSQL, counts should be cast (`count(*)::int`): a bigint is read as a string. SQLite
 * has no `::` casts: they are dropped there.
 */
export async function rawSql<T = Record<string, unknown>>(server: Pick<TestServer, 'services'>, statement: string, params: unknown[] = []): Promise<T[]> {
  const store = server.services.store;
  if (store.kind === 'postgres') {
    let n = 0;
    // Without parameters: the simple protocol, which also takes several statements at once.
    const result = await store.db.$client.query(statement.replace(/\?/g, () => `$${++n}`), params.length > 0 ? params : undefined);
    return (Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows) as T[];
  }
  const prepared = store.db.$client.prepare(withoutCasts(statement));
  return (prepared.reader ? prepared.all(...params) : (prepared.run(...params), [])) as T[];
}

/**
 * SQL on a database by its file (or URL), from outside any server: for reading what another
 * process stored, or what a stopped server left. Same conventions as rawSql.
 */
export async function queryDatabase<T = Record<string, unknown>>(databaseFile: string, statement: string, params: unknown[] = []): Promise<T[]> {
  if (/^postgres(ql)?:\/\//.test(databaseFile)) {
    const client = new pg.Client({ connectionString: databaseFile });
    await client.connect();
    try {
      let n = 0;
      return (await client.query(statement.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const db = new Database(databaseFile, { fileMustExist: true });
  try {
    const prepared = db.prepare(withoutCasts(statement));
    return (prepared.reader ? prepared.all(...params) : (prepared.run(...params), [])) as T[];
  } finally {
    db.close();
  }
}

/** Closes the server's database connection(s) under it, as a crashed or vanished database would. */
export async function closeDatabaseUnder(server: Pick<TestServer, 'services'>): Promise<void> {
  const store = server.services.store;
  if (store.kind === 'postgres') await store.db.$client.end();
  else store.db.$client.close();
}

const withoutCasts = (statement: string) => statement.replace(/::[a-z]+\b/gi, '');

/**
 * A copy of the database as a crash (kill -9) leaves it: what is committed now, nothing the server
 * still holds in memory. SQLite: the file and its WAL copied. PostgreSQL: the database cut off
 * from its server (no new connections, the open ones ended) and cloned as a template; the
 * original server's later writes fail, as a dead process's would.
 */
export function crashImageOf(databaseFile: string): string {
  if (!/^postgres(ql)?:\/\//.test(databaseFile)) {
    const image = tempFileLike(databaseFile);
    copyFileSync(databaseFile, image);
    if (existsSync(`${databaseFile}-wal`)) copyFileSync(`${databaseFile}-wal`, `${image}-wal`);
    return image;
  }
  const source = new URL(databaseFile).pathname.slice(1);
  adminSql(
    `alter database ${source} with allow_connections false; select pg_terminate_backend(pid) from pg_stat_activity where datname = '${source}';`,
  );
  const name = `${databasePrefix}${process.pid}_${randomBytes(4).toString('hex')}`;
  adminSql(`create database ${name} template ${source}`);
  created.push(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

const tempFileLike = (file: string) => `${file}.crash-${randomBytes(4).toString('hex')}`;
