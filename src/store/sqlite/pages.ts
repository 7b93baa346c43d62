import { and, asc, desc, eq, getTableName, gt, lt, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { PageWindow } from '../types.js';
import type { Db } from './client.js';
import { prepared } from './prepared.js';
import { assistants, messages, runs, threads } from './tables.js';

/** Windows of rows ordered by their integer `pos` (what cursors encode), for the connections. */

type PagedTable = typeof assistants | typeof threads | typeof messages | typeof runs;

function windowConditions(table: PagedTable, newestFirst: boolean, after?: number | SQLWrapper, before?: number | SQLWrapper): (SQL | undefined)[] {
  const later = (p: number | SQLWrapper) => (newestFirst ? lt(table.pos, p) : gt(table.pos, p));
  const earlier = (p: number | SQLWrapper) => (newestFirst ? gt(table.pos, p) : lt(table.pos, p));
  return [after === undefined ? undefined : later(after), before === undefined ? undefined : earlier(before)];
}

function windowOrder(table: PagedTable, newestFirst: boolean, fromEnd: boolean): SQL {
  return newestFirst !== fromEnd ? desc(table.pos) : asc(table.pos);
}

/**
 * Rows of one parent (a thread's messages, an owner's assistants…): prepared queries, one per
 * window shape, since these connections are on every screen.
 */
export function scopedPage<T extends PagedTable>(
  db: Db,
  table: T,
  scope: { column: SQLiteColumn; value: string },
  w: PageWindow,
  newestFirst = false,
): T['$inferSelect'][] {
  const key = `page:${getTableName(table)}.${scope.column.name}:${newestFirst}:${w.after !== null}:${w.before !== null}:${w.fromEnd}`;
  const query = prepared(db, key, () =>
    db
      .select()
      .from(table as typeof threads)
      .where(
        and(
          eq(scope.column, sql.placeholder('scope')),
          ...windowConditions(table, newestFirst, w.after === null ? undefined : sql.placeholder('after'), w.before === null ? undefined : sql.placeholder('before')),
        ),
      )
      .orderBy(windowOrder(table, newestFirst, w.fromEnd))
      .limit(sql.placeholder('limit'))
      .prepare(),
  );
  return query.all({ scope: scope.value, after: w.after, before: w.before, limit: w.limit }) as T['$inferSelect'][];
}

/** Rows matching any filter, built per call (filters vary, e.g. by metadata). */
export function filteredPage<T extends PagedTable>(db: Db, table: T, where: SQL | undefined, w: PageWindow, newestFirst = false): T['$inferSelect'][] {
  return db
    .select()
    .from(table as typeof threads)
    .where(and(where, ...windowConditions(table, newestFirst, w.after ?? undefined, w.before ?? undefined)))
    .orderBy(windowOrder(table, newestFirst, w.fromEnd))
    .limit(w.limit)
    .all() as T['$inferSelect'][];
}
