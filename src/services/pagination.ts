import { BadUserInputError } from '../errors.js';
import type { PageWindow } from '../store/types.js';

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

/** An edge of a connection; its cursor is encoded when it is read (most pages are asked for without them). */
class Edge<T extends { pos: number }> {
  constructor(readonly node: T) {}

  get cursor(): string {
    return encodeCursor(this.node.pos);
  }
}

/** Reads a window of rows (a store's `page`). */
export type PageReader<T> = (window: PageWindow) => Promise<T[]>;

/**
 * Relay pagination over rows ordered by their integer `pos`. `newestFirst` flips the display
 * order (the reader must apply the same order).
 */
export async function paginate<T extends { pos: number }>(args: ConnectionArgs, read: PageReader<T>, newestFirst = false): Promise<Connection<T>> {
  const first = pageSize(args.first, 'first');
  const last = pageSize(args.last, 'last');
  if (first !== null && last !== null) throw new BadUserInputError('last', 'cannot be combined with first');
  const afterPos = args.after ? decodeCursor(args.after, 'after') : null;
  const beforePos = args.before ? decodeCursor(args.before, 'before') : null;
  // One step later / earlier in display order, to turn "at or beyond a cursor" into "beyond".
  const step = newestFirst ? -1 : 1;
  const anyRow = async (window: Omit<PageWindow, 'fromEnd' | 'limit'>) => (await read({ ...window, fromEnd: false, limit: 1 })).length > 0;

  let rows: T[];
  let hasNextPage: boolean;
  let hasPreviousPage: boolean;
  if (last !== null) {
    rows = await read({ after: afterPos, before: beforePos, fromEnd: true, limit: last + 1 });
    hasPreviousPage = rows.length > last;
    rows = rows.slice(0, last).reverse();
    hasNextPage = beforePos !== null && (await anyRow({ after: beforePos - step, before: null }));
  } else {
    const limit = first ?? DEFAULT_PAGE_SIZE;
    rows = await read({ after: afterPos, before: beforePos, fromEnd: false, limit: limit + 1 });
    hasNextPage = rows.length > limit;
    rows = rows.slice(0, limit);
    hasPreviousPage = afterPos !== null && (await anyRow({ after: null, before: afterPos + step }));
  }
  const edges = rows.map((node) => new Edge(node));
  return { edges, pageInfo: new PageInfo(edges, hasNextPage, hasPreviousPage) };
}

/** A page's info; its cursors too are encoded only when read. */
class PageInfo<T extends { pos: number }> {
  constructor(
    private readonly edges: Edge<T>[],
    readonly hasNextPage: boolean,
    readonly hasPreviousPage: boolean,
  ) {}

  get startCursor(): string | null {
    return this.edges[0]?.cursor ?? null;
  }

  get endCursor(): string | null {
    return this.edges.at(-1)?.cursor ?? null;
  }
}

/** A list page as the Assistants API pages (/v1): by object ids, in either order. */
export interface IdPageArgs {
  limit?: number | null;
  /** `desc` (newest first) unless given. */
  order?: 'asc' | 'desc' | null;
  /** Ids of objects in the list: the page starts after / ends before them, in the requested order. */
  after?: string | null;
  before?: string | null;
}

/**
 * The same pages as `paginate`, addressed by ids: `find` resolves an id to its row in this list
 * (undefined when it is not in it). `newestFirst` is the reader's natural order, as for `paginate`.
 */
export async function pageByIds<T extends { pos: number }>(
  args: IdPageArgs,
  read: PageReader<T>,
  find: (id: string) => Promise<T | undefined>,
  newestFirst = false,
): Promise<{ data: T[]; hasMore: boolean }> {
  const limit = args.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new BadUserInputError('limit', `must be an integer between 1 and ${MAX_PAGE_SIZE}`);
  const cursor = async (id: string | null | undefined, field: string) => {
    if (!id) return null;
    const row = await find(id);
    if (!row) throw new BadUserInputError(field, `"${id}" is not an object of this list`);
    return encodeCursor(row.pos);
  };
  const [after, before] = await Promise.all([cursor(args.after, 'after'), cursor(args.before, 'before')]);
  const natural = (args.order ?? 'desc') === 'desc' ? newestFirst : !newestFirst;
  if (natural) {
    const page = await paginate({ first: limit, after, before }, read, newestFirst);
    return { data: page.edges.map((e) => e.node), hasMore: page.pageInfo.hasNextPage };
  }
  // The other order: the reader's page from the far end, turned around.
  const page = await paginate({ last: limit, before: after, after: before }, read, newestFirst);
  return { data: page.edges.map((e) => e.node).reverse(), hasMore: page.pageInfo.hasPreviousPage };
}

/** pageByIds over a short list held in memory (oldest first), e.g. a run's steps. */
export function pageOfList<T extends { id: string }>(items: T[], args: IdPageArgs): Promise<{ data: T[]; hasMore: boolean }> {
  const withPos = items.map((item, pos) => ({ item, pos }));
  const read: PageReader<{ item: T; pos: number }> = async (w) => {
    const inWindow = withPos.filter((r) => (w.after === null || r.pos > w.after) && (w.before === null || r.pos < w.before));
    return (w.fromEnd ? inWindow.reverse() : inWindow).slice(0, w.limit);
  };
  return pageByIds(args, read, async (id) => withPos.find((r) => r.item.id === id)).then((p) => ({ data: p.data.map((r) => r.item), hasMore: p.hasMore }));
}
