import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { NotFoundError } from '../errors.js';
import type { Db } from './client.js';
import { assistants, messages, runs, threads, type RunRow } from './schema.js';

/**
 * Row lookups by public id. Entry points (queries, node(id), mutations, subscriptions) pass the
 * caller's owner, so another owner's id is found exactly as little as an unknown one. Nested
 * fields and the run engine look up without an owner: their parent was already authorized.
 */

const byId = (idColumn: SQLiteColumn, ownerColumn: SQLiteColumn, id: string, owner?: string): SQL | undefined =>
  owner === undefined ? eq(idColumn, id) : and(eq(idColumn, id), eq(ownerColumn, owner));

export const findAssistant = (db: Db, id: string | null, owner?: string) =>
  id === null ? undefined : db.select().from(assistants).where(byId(assistants.id, assistants.owner, id, owner)).get();
export const findThread = (db: Db, id: string, owner?: string) =>
  db.select().from(threads).where(byId(threads.id, threads.owner, id, owner)).get();
export const findMessage = (db: Db, id: string, owner?: string) =>
  db.select().from(messages).where(byId(messages.id, messages.owner, id, owner)).get();
export const findRun = (db: Db, id: string, owner?: string) =>
  db.select().from(runs).where(byId(runs.id, runs.owner, id, owner)).get();

/** The row, or NOT_FOUND naming what was asked for. */
export function required<T>(row: T | undefined, what: string, id: string): T {
  if (row === undefined) throw new NotFoundError(what, id);
  return row;
}

/**
 * The thread's active runs: the IN_PROGRESS one first, then the QUEUED ones in order. The first
 * is what `Thread.activeRun` shows and what THREAD_BUSY names.
 */
export function activeRuns(db: Db, threadId: string): RunRow[] {
  return db
    .select()
    .from(runs)
    .where(and(eq(runs.threadId, threadId), inArray(runs.status, ['QUEUED', 'IN_PROGRESS'])))
    .orderBy(sql`${runs.status} = 'IN_PROGRESS' desc`, asc(runs.pos))
    .all();
}

/** The thread's oldest QUEUED run: the next to start. */
export function nextQueuedRun(db: Db, threadId: string): RunRow | undefined {
  return db
    .select()
    .from(runs)
    .where(and(eq(runs.threadId, threadId), eq(runs.status, 'QUEUED')))
    .orderBy(asc(runs.pos))
    .limit(1)
    .get();
}
