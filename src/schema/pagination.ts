import { and, asc, desc, gt, lt, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
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
 * Relay pagination over rows ordered by their integer `pos`.
 * `select(where, orderBy, limit)` runs the query; `newestFirst` flips the display order.
 */
export function paginate<T extends { pos: number }>(
  args: ConnectionArgs,
  options: {
    pos: SQLiteColumn;
    where: SQL | undefined;
    newestFirst?: boolean;
    select: (where: SQL | undefined, orderBy: SQL, limit: number) => T[];
  },
): Connection<T> {
  const first = pageSize(args.first, 'first');
  const last = pageSize(args.last, 'last');
  if (first !== null && last !== null) throw new BadUserInputError('last', 'cannot be combined with first');
  const afterPos = args.after ? decodeCursor(args.after, 'after') : null;
  const beforePos = args.before ? decodeCursor(args.before, 'before') : null;

  const { pos, newestFirst = false } = options;
  // In display order: "later" rows have a greater pos, or a smaller one when newest come first.
  const laterThan = (p: number) => (newestFirst ? lt(pos, p) : gt(pos, p));
  const earlierThan = (p: number) => (newestFirst ? gt(pos, p) : lt(pos, p));
  const displayOrder = newestFirst ? desc(pos) : asc(pos);
  const reverseOrder = newestFirst ? asc(pos) : desc(pos);
  const window = and(
    options.where,
    afterPos !== null ? laterThan(afterPos) : undefined,
    beforePos !== null ? earlierThan(beforePos) : undefined,
  );
  const existsBeyond = (condition: SQL) => options.select(and(options.where, condition), displayOrder, 1).length > 0;

  let rows: T[];
  let hasNextPage: boolean;
  let hasPreviousPage: boolean;
  if (last !== null) {
    rows = options.select(window, reverseOrder, last + 1);
    hasPreviousPage = rows.length > last;
    rows = rows.slice(0, last).reverse();
    hasNextPage = beforePos !== null && existsBeyond(laterThan(beforePos - (newestFirst ? -1 : 1)));
  } else {
    const limit = first ?? DEFAULT_PAGE_SIZE;
    rows = options.select(window, displayOrder, limit + 1);
    hasNextPage = rows.length > limit;
    rows = rows.slice(0, limit);
    hasPreviousPage = afterPos !== null && existsBeyond(earlierThan(afterPos + (newestFirst ? -1 : 1)));
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

