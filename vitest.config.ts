import { defineConfig } from 'vitest/config';

// graphql ships both .mjs and .js; loading both breaks its instanceof checks, so pin one.
const resolve = { alias: { graphql: 'graphql/index.js' } };

export default defineConfig({
  resolve,
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Files run in parallel processes; each has its own servers, ports and database files.
    pool: 'forks',
    projects: [
      { resolve, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/cluster/**'], testTimeout: 20_000, hookTimeout: 20_000, pool: 'forks' } },
      // Several server processes per file on a 2-core machine: one file at a time.
      { resolve, test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000, pool: 'forks', fileParallelism: false } },
    ],
  },
});
