import { defineConfig } from 'drizzle-kit';

// `npm run db:generate:postgres`: the PostgreSQL migrations, beside SQLite's (drizzle.config.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/tables.ts',
  out: './src/store/postgres/migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/threadql' },
});
