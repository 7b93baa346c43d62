import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships both .mjs and .js; loading both breaks its instanceof checks, so pin one.
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Files run in parallel processes; each has its own servers, ports and database files.
    pool: 'forks',
  },
});
