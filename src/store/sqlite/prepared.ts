import type { Db } from './client.js';

/**
 * Prepared queries, built once per database: building a Drizzle query and preparing its SQL
 * costs tens of microseconds a call, running a prepared one a few. Hot paths use this.
 */
const cache = new WeakMap<Db, Map<string, unknown>>();

export function prepared<T>(db: Db, key: string, build: () => T): T {
  let queries = cache.get(db);
  if (!queries) cache.set(db, (queries = new Map()));
  let query = queries.get(key) as T | undefined;
  if (query === undefined) queries.set(key, (query = build()));
  return query;
}
