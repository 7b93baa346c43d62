import { and, asc, desc, eq, gt, lt, type SQL } from 'drizzle-orm';
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

/** Rows of one parent (a thread's messages, an owner's assistants…). */
export function scopedPage<T extends PagedTable>(db: Queries, table: T, column: PgColumn, value: string, w: PageWindow, newestFirst = false) {
  return page(db, table, eq(column, value), w, newestFirst);
}
