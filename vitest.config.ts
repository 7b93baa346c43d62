import { defineConfig } from 'vitest/config';

/**
 * Every test file runs on SQLite (the `sqlite` project), and again on PostgreSQL (the `postgres`
 * project) when TEST_POSTGRES_URL names an admin connection: each test server then gets a fresh
 * database (test/test-database.ts), dropped afterwards. test/cluster/ (several server processes
 * on one PostgreSQL database and Redis) is its own project, `cluster`, which needs
 * TEST_POSTGRES_URL and TEST_REDIS_URL and says so when skipped.
 */
const postgresUrl = process.env.TEST_POSTGRES_URL;
// The config is evaluated more than once (root and projects): say it once.
if (!postgresUrl && !process.env.VITEST_WORKER_ID && !process.env.TQL_POSTGRES_SKIP_SAID) {
  process.env.TQL_POSTGRES_SKIP_SAID = '1';
  console.log('PostgreSQL project skipped: set TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run the suite on PostgreSQL too.');
}

const shared = {
  include: ['test/**/*.test.ts'],
  exclude: ['test/cluster/**', 'node_modules/**'],
  testTimeout: 20_000,
  hookTimeout: 20_000,
  // Files run in parallel processes; each has its own servers, ports and databases.
  pool: 'forks' as const,
};

export default defineConfig({
  // graphql ships both .mjs and .js; loading both breaks its instanceof checks, so pin one.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    // Both projects share one pool of workers. Two, not vitest's default of cores - 1 (one on a
    // 2-core machine): the files mostly wait (fake provider pauses, timers, PostgreSQL's own
    // process), so a second file runs beside the first instead of doubling the wall time.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { ...shared, name: 'sqlite', env: { TEST_BACKEND: 'sqlite' } } },
      ...(postgresUrl
        ? [{ extends: true as const, test: { ...shared, name: 'postgres', env: { TEST_BACKEND: 'postgres' }, globalSetup: ['test/postgres-setup.ts'] } }]
        : []),
      // Several server processes per file: the cluster tests run in one file, on their own timeouts.
      { extends: true, test: { ...shared, include: ['test/cluster/**/*.test.ts'], exclude: [], name: 'cluster', testTimeout: 40_000, hookTimeout: 60_000, fileParallelism: false } },
    ],
  },
});
