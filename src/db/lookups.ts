import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { NotFoundError } from '../errors.js';
import type { Db } from './client.js';
import { prepared } from './prepared.js';
import { assistants, messages, runs, threads, type RunRow } from './schema.js';

/**
 * Row lookups by public id. Entry points (queries, node(id), mutations, subscriptions) pass the
 * caller's owner, so another owner's id is found exactly as little as an unknown one. Nested
 * fields and the run engine look up without an owner: their parent was already authorized.
 */

const id = sql.placeholder('id');
const owner = sql.placeholder('owner');

function finder<T extends typeof assistants | typeof threads | typeof messages | typeof runs>(table: T, name: string) {
  return (db: Db, rowId: string, rowOwner?: string): T['$inferSelect'] | undefined => {
    if (rowOwner === undefined) {
      const query = prepared(db, `${name}.byId`, () => db.select().from(table as typeof threads).where(eq(table.id, id)).prepare());
      return query.get({ id: rowId }) as T['$inferSelect'] | undefined;
    }
    const query = prepared(db, `${name}.byIdAndOwner`, () =>
      db.select().from(table as typeof threads).where(and(eq(table.id, id), eq(table.owner, owner))).prepare(),
    );
    return query.get({ id: rowId, owner: rowOwner }) as T['$inferSelect'] | undefined;
  };
}

const findAssistantById = finder(assistants, 'assistant');
export const findAssistant = (db: Db, assistantId: string | null, assistantOwner?: string) =>
  assistantId === null ? undefined : findAssistantById(db, assistantId, assistantOwner);
export const findThread = finder(threads, 'thread');
export const findMessage = finder(messages, 'message');
export const findRun = finder(runs, 'run');

/** The row, or NOT_FOUND naming what was asked for. */
export function required<T>(row: T | undefined, what: string, rowId: string): T {
  if (row === undefined) throw new NotFoundError(what, rowId);
  return row;
}

/**
 * The thread's active runs: the IN_PROGRESS one first, then the QUEUED ones in order. The first
 * is what `Thread.activeRun` shows and what THREAD_BUSY names.
 */
export function activeRuns(db: Db, threadId: string): RunRow[] {
  const query = prepared(db, 'runs.active', () =>
    db
      .select()
      .from(runs)
      .where(and(eq(runs.threadId, sql.placeholder('threadId')), inArray(runs.status, ['QUEUED', 'IN_PROGRESS'])))
      .orderBy(sql`${runs.status} = 'IN_PROGRESS' desc`, asc(runs.pos))
      .prepare(),
  );
  return query.all({ threadId });
}

/** The thread's oldest QUEUED run: the next to start. */
export function nextQueuedRun(db: Db, threadId: string): RunRow | undefined {
  const query = prepared(db, 'runs.nextQueued', () =>
    db
      .select()
      .from(runs)
      .where(and(eq(runs.threadId, sql.placeholder('threadId')), eq(runs.status, 'QUEUED')))
      .orderBy(asc(runs.pos))
      .limit(1)
      .prepare(),
  );
  return query.get({ threadId });
}
