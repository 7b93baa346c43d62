import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { assistants, messages, runs, threads } from './schema.js';
import { NotFoundError } from '../errors.js';

/** Row lookups by public id, shared by queries, node(id) and nested fields. */

export const findAssistant = (db: Db, id: string | null) =>
  id === null
    ? undefined
    : db.select().from(assistants).where(eq(assistants.id, id)).get();
export const findThread = (db: Db, id: string) => db.select().from(threads).where(eq(threads.id, id)).get();
export const findMessage = (db: Db, id: string) => db.select().from(messages).where(eq(messages.id, id)).get();
export const findRun = (db: Db, id: string) => db.select().from(runs).where(eq(runs.id, id)).get();

/** The row, or NOT_FOUND naming what was asked for. */
export function required<T>(row: T | undefined, what: string, id: string): T {
  if (row === undefined) throw new NotFoundError(what, id);
  return row;
}
