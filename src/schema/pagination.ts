import { and, asc, desc, eq, getTableName, gt, lt, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { Db } from '../db/client.js';
import { prepared } from '../db/prepared.js';
import { assistants, messages, runs, threads } from '../db/schema.js';
import { BadUserInputError } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** Cursors are opaque to clients; inside they carry the row's `pos`. */
export function encodeCursor(pos: number): string {
  return Buffer.from(`pos:${pos}`).toString('base64url');
}

function decodeCursor(cursor: string, field: string): number {
  const match = /^pos:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new BadUserInputError(field, 'is not a cursor returned by this connection');
  return Number(match[1]);
}

function pageSize(value: number | null | undefined, field: string): number | null {
  if (value == null) return null;
  if (value < 0 || value > MAX_PAGE_SIZE) throw new BadUserInputError(field, `must be between 0 and ${MAX_PAGE_SIZE}`);
  return value;
}

/**
 * Which rows a page needs, in display order: strictly after / before the cursors' positions,
 * read from the far end when `fromEnd` (for `last`), at most `limit`.
 */
export interface PageWindow {
  after: number | null;
  before: number | null;
  fromEnd: boolean;
  limit: number;
}

/** Reads a window of rows; see scopedRows and filteredRows. */
export type PageReader<T> = (window: PageWindow) => T[];

/**
 * Relay pagination over rows ordered by their integer `pos`. `newestFirst` flips the display
 * order (the reader must apply the same order).
 */
export function paginate<T extends { pos: number }>(args: ConnectionArgs, read: PageReader<T>, newestFirst = false): Connection<T> {
  const first = pageSize(args.first, 'first');
  const last = pageSize(args.last, 'last');
  if (first !== null && last !== null) throw new BadUserInputError('last', 'cannot be combined with first');
  const afterPos = args.after ? decodeCursor(args.after, 'after') : null;
  const beforePos = args.before ? decodeCursor(args.before, 'before') : null;
  // One step later / earlier in display order, to turn "at or beyond a cursor" into "beyond".
  const step = newestFirst ? -1 : 1;
  const anyRow = (window: Omit<PageWindow, 'fromEnd' | 'limit'>) => read({ ...window, fromEnd: false, limit: 1 }).length > 0;

  let rows: T[];
  let hasNextPage: boolean;
  let hasPreviousPage: boolean;
  if (last !== null) {
    rows = read({ after: afterPos, before: beforePos, fromEnd: true, limit: last + 1 });
    hasPreviousPage = rows.length > last;
    rows = rows.slice(0, last).reverse();
    hasNextPage = beforePos !== null && anyRow({ after: beforePos - step, before: null });
  } else {
    const limit = first ?? DEFAULT_PAGE_SIZE;
    rows = read({ after: afterPos, before: beforePos, fromEnd: false, limit: limit + 1 });
    hasNextPage = rows.length > limit;
    rows = rows.slice(0, limit);
    hasPreviousPage = afterPos !== null && anyRow({ after: null, before: afterPos + step });
  }
  const edges = rows.map((node) => ({ cursor: encodeCursor(node.pos), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage,
      hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

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
export function scopedRows<T extends PagedTable>(
  db: Db,
  table: T,
  scope: { column: SQLiteColumn; value: string },
  newestFirst = false,
): PageReader<T['$inferSelect']> {
  return (w) => {
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
  };
}

/** Rows matching any filter, built per call (filters vary, e.g. by metadata). */
export function filteredRows<T extends PagedTable>(db: Db, table: T, where: SQL | undefined, newestFirst = false): PageReader<T['$inferSelect']> {
  return (w) =>
    db
      .select()
      .from(table as typeof threads)
      .where(and(where, ...windowConditions(table, newestFirst, w.after ?? undefined, w.before ?? undefined)))
      .orderBy(windowOrder(table, newestFirst, w.fromEnd))
      .limit(w.limit)
      .all() as T['$inferSelect'][];
}
