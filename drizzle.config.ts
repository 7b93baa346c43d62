import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/store/sqlite/tables.ts',
  out: './src/store/sqlite/migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? './data/threadql.db' },
});
