import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { describeDatabase } from '../src/store/index.js';
import { onPostgres, queryDatabase, removeTempDirs, startTestServer, tempDatabaseFile, type TestServer } from './helpers.js';
import { spawnServer } from './process-helpers.js';

const run = promisify(execFile);

/** DATABASE_URL picks the backend; start-up says which; PostgreSQL migrations run once however many instances start together. */

describe('DATABASE_URL chooses the backend', () => {
  afterAll(() => removeTempDirs());

  it.each(['mysql://app@db.example/threads', 'sqlite://./data/x.db', 'redis://127.0.0.1:6379'])(
    'another scheme (%s) stops start-up with a message naming DATABASE_URL',
    async (url) => {
      const error = await startServer(loadConfig({ DATABASE_URL: url, PORT: '0', LOG_LEVEL: 'silent' })).then(
        async (server) => (await server.stop(), null),
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/^DATABASE_URL uses the unsupported scheme "[a-z]+:\/\/"/);
      expect(error?.message).toContain('postgres://');
    },
  );

  it('start-up says which backend it runs on, in its one line (without a password)', async () => {
    const databaseFile = tempDatabaseFile();
    const child = await spawnServer({ env: { DATABASE_URL: databaseFile } });
    try {
      expect(child.output()).toMatch(onPostgres ? /listening on \S+ .*database PostgreSQL postgres:\/\// : /listening on \S+ .*database SQLite /);
    } finally {
      child.child.kill('SIGTERM');
      await child.exited;
    }
    expect(describeDatabase('postgres://app:s3cret@db.example:5432/threadql')).toBe('PostgreSQL postgres://app:***@db.example:5432/threadql');
    expect(describeDatabase('./data/threadql.db')).toBe('SQLite ./data/threadql.db');
  });
});

// Once, in the sqlite project: it reads files, not a database.
describe.skipIf(onPostgres)('committed migrations', () => {
  it.each([
    ['sqlite', 'src/store/sqlite/tables.ts', 'src/store/sqlite/migrations'],
    ['postgresql', 'src/store/postgres/tables.ts', 'src/store/postgres/migrations'],
  ])('%s: drizzle-kit generates nothing new from the tables (a changed schema needs its migration committed)', async (dialect, schema, folder) => {
    // On a copy: a stale folder must fail the test, not gain a file.
    const copy = join(mkdtempSync(join(tmpdir(), 'threadql-migrations-')), 'migrations');
    cpSync(folder, copy, { recursive: true });
    const before = readdirSync(copy).sort();
    try {
      // drizzle-kit prefixes `./` to --out: give it a relative path.
      const out = relative(process.cwd(), copy);
      const { stdout } = await run(process.execPath, ['node_modules/drizzle-kit/bin.cjs', 'generate', `--dialect=${dialect}`, `--schema=${schema}`, `--out=${out}`]);
      expect(stdout).toContain('No schema changes');
      expect(readdirSync(copy).sort()).toEqual(before);
    } finally {
      rmSync(dirname(copy), { recursive: true, force: true });
    }
  });
});

// PostgreSQL only: SQLite has one server per file (instance-lock.test.ts), so nothing races there.
describe.skipIf(!onPostgres)('PostgreSQL migrations', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.stop();
    removeTempDirs();
  });

  it('three servers started at once on an empty database all start; the migrations are applied once', async () => {
    const databaseFile = tempDatabaseFile();
    const started = await Promise.allSettled([1, 2, 3].map(() => startTestServer({ databaseFile })));
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    expect(started.map((s) => (s.status === 'rejected' ? String(s.reason) : 'started'))).toEqual(['started', 'started', 'started']);
    const journal = (await import('../src/store/postgres/migrations/meta/_journal.json', { with: { type: 'json' } })).default;
    const applied = await queryDatabase<{ hash: string }>(databaseFile, 'select hash from drizzle.__drizzle_migrations order by id');
    expect(applied).toHaveLength(journal.entries.length);
    // Every instance works on the one database: what one writes, the others read.
    const created = await servers[0]!.gql('mutation { createThread(input: { title: "shared" }) { thread { id } } }');
    const id = created.data.createThread.thread.id;
    for (const server of servers.slice(1)) expect((await server.gql('query ($id: ID!) { thread(id: $id) { title } }', { id })).data.thread).toEqual({ title: 'shared' });
  });
});
