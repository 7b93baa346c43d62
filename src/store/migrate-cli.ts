// `npm run db:migrate`: applies the committed migrations to DATABASE_URL (SQLite or PostgreSQL) and exits.
import { loadConfig } from '../config.js';
import { createStore, describeDatabase } from './index.js';

const config = loadConfig();
const store = await createStore(config.databaseUrl);
await store.close();
console.log(`Migrations applied to ${describeDatabase(config.databaseUrl)}`);
