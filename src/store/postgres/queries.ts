import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type * as schema from './tables.js';

/** What queries run on: the pool's database or an open transaction (Drizzle gives both this API). */
export type Queries = PgDatabase<NodePgQueryResultHKT, typeof schema>;
