import type * as pg from './tables.js';
import type * as lite from '../sqlite/tables.js';

/**
 * Compile-time proof (`npm run typecheck`) that the PostgreSQL tables return exactly the SQLite
 * row types that src/store/rows.ts exports: a column of another type here fails the build.
 */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

export type RowParity = [
  Assert<Equal<(typeof pg.assistants)['$inferSelect'], lite.AssistantRow>>,
  Assert<Equal<(typeof pg.threads)['$inferSelect'], lite.ThreadRow>>,
  Assert<Equal<(typeof pg.messages)['$inferSelect'], lite.MessageRow>>,
  Assert<Equal<(typeof pg.runs)['$inferSelect'], lite.RunRow>>,
  Assert<Equal<(typeof pg.events)['$inferSelect'], lite.EventRow>>,
  Assert<Equal<(typeof pg.apiKeys)['$inferSelect'], lite.ApiKeyRow>>,
];
