// `npm run db:migrate`: applies the committed migrations to DATABASE_URL and exits.
import { loadConfig } from '../../config.js';
import { closeDb, createDb } from './client.js';

const config = loadConfig();
closeDb(createDb(config.databaseUrl));
console.log(`Migrations applied to ${config.databaseUrl}`);
