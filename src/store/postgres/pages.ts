import { and, asc, desc, eq, getTableName, gt, lt, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { PageWindow } from '../types.js';
import type { Queries } from './queries.js';
import { assistants, messages, runs, threads } from './tables.js';

/** Windows of rows ordered by their `pos` (what cursors encode), exactly as ../sqlite/pages.ts cuts them. */

type PagedTable = typeof assistants | typeof threads | typeof messages | typeof runs;

export function page<T extends PagedTable>(
  db: Queries,
  table: T,
  where: SQL | undefined,
  w: PageWindow,
  newestFirst = false,
): Promise<T['$inferSelect'][]> {
  const later = (p: number) => (newestFirst ? lt(table.pos, p) : gt(table.pos, p));
  const earlier = (p: number) => (newestFirst ? gt(table.pos, p) : lt(table.pos, p));
  return db
    .select()
    .from(table as typeof threads)
    .where(and(where, w.after === null ? undefined : later(w.after), w.before === null ? undefined : earlier(w.before)))
    .orderBy(newestFirst !== w.fromEnd ? desc(table.pos) : asc(table.pos))
    .limit(w.limit) as Promise<T['$inferSelect'][]>;
}

/**
 * Rows of one parent (a thread's messages, an owner's assistants…): on every screen, so one
 * named prepared statement per window shape — built once, parsed once per connection by
 * PostgreSQL — instead of a query built and parsed at every call. The same cut as `page`.
 */
export function scopedPage<T extends PagedTable>(db: Queries, table: T, column: PgColumn, value: string, w: PageWindow, newestFirst = false) {
  const shape = `${getTableName(table)}_${column.name}_${+newestFirst}${+(w.after !== null)}${+(w.before !== null)}${+w.fromEnd}`;
  const query = preparedOn(db, `tql_page_${shape}`, (name) => {
    const later = (p: SQLWrapper) => (newestFirst ? lt(table.pos, p) : gt(table.pos, p));
    const earlier = (p: SQLWrapper) => (newestFirst ? gt(table.pos, p) : lt(table.pos, p));
    return db
      .select()
      .from(table as typeof threads)
      .where(
        and(
          eq(column, sql.placeholder('scope')),
          w.after === null ? undefined : later(sql.placeholder('after')),
          w.before === null ? undefined : earlier(sql.placeholder('before')),
        ),
      )
      .orderBy(newestFirst !== w.fromEnd ? desc(table.pos) : asc(table.pos))
      .limit(sql.placeholder('limit'))
      .prepare(name);
  });
  return query.execute({ scope: value, after: w.after, before: w.before, limit: w.limit }) as Promise<T['$inferSelect'][]>;
}

/**
 * Prepared queries of one database (the pool's), by statement name: a name is one SQL text,
 * which node-postgres prepares on each connection the first time it runs there.
 */
const prepared = new WeakMap<Queries, Map<string, { execute(values: Record<string, unknown>): Promise<unknown> }>>();

export function preparedOn<Q extends { execute(values: Record<string, unknown>): Promise<unknown> }>(db: Queries, name: string, build: (name: string) => Q): Q {
  let queries = prepared.get(db);
  if (!queries) prepared.set(db, (queries = new Map()));
  let query = queries.get(name) as Q | undefined;
  if (!query) queries.set(name, (query = build(name)));
  return query;
}
