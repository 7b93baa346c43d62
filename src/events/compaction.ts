import { and, eq, inArray, lt, ne } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { events, messages } from '../db/schema.js';

/**
 * Deletes the stored deltas of finished messages older than the retention window. The
 * message's final MessageEvent stays and stands for them, so a replay from before the window
 * still ends with the exact content. Returns the number of deltas removed.
 */
export function compactDeltas(db: Db, retentionMs: number, now = Date.now()): number {
  const finished = db.select({ id: messages.id }).from(messages).where(ne(messages.status, 'IN_PROGRESS'));
  return db
    .delete(events)
    .where(and(eq(events.type, 'MESSAGE_DELTA'), lt(events.createdAt, new Date(now - retentionMs)), inArray(events.messageId, finished)))
    .run().changes;
}

/** Compacts now and then every hour; returns the function that stops it. */
export function scheduleCompaction(db: Db, retentionMs: number): () => void {
  compactDeltas(db, retentionMs);
  const timer = setInterval(() => compactDeltas(db, retentionMs), 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}
