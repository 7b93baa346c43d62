import { and, asc, desc, eq, getTableName, gt, lt, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { PageWindow } from '../types.js';
import type { Db } from './client.js';
import { prepared } from './prepared.js';
import { rowReader } from './rows.js';
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
 * Rows of one parent (a thread's messages, an owner's assistants…): prepared statements, one
 * per window shape, since these connections are on every screen. Read raw and decoded by
 * rows.ts rather than through Drizzle's mapping; the scope column is not read back (it is the
 * value asked for).
 */
export function scopedPage<T extends PagedTable>(
  db: Db,
  table: T,
  scope: { column: SQLiteColumn; value: string },
  w: PageWindow,
  newestFirst = false,
): T['$inferSelect'][] {
  const key = `page.raw:${getTableName(table)}.${scope.column.name}:${newestFirst}:${w.after !== null}:${w.before !== null}:${w.fromEnd}`;
  const { reader, statement } = prepared(db, key, () => {
    const reader = rowReader(table, scope.column);
    // Later / earlier in display order, as windowConditions cuts them.
    const later = newestFirst ? '<' : '>';
    const earlier = newestFirst ? '>' : '<';
    const pos = `"${table.pos.name}"`;
    const where = [`"${scope.column.name}" = ?`];
    if (w.after !== null) where.push(`${pos} ${later} ?`);
    if (w.before !== null) where.push(`${pos} ${earlier} ?`);
    const order = newestFirst !== w.fromEnd ? 'desc' : 'asc';
    const sql = `select ${reader.columns} from ${reader.table} where ${where.join(' and ')} order by ${pos} ${order} limit ?`;
    return { reader, statement: db.$client.prepare(sql).raw() };
  });
  const params: unknown[] = [scope.value];
  if (w.after !== null) params.push(w.after);
  if (w.before !== null) params.push(w.before);
  params.push(w.limit);
  const rows = statement.all(...params) as unknown[][];
  return rows.map((values) => reader.read(values, scope.value));
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
