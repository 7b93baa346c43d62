import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { LeaseStore, StoreTx, ThreadSeqChanges, ThreadSeqState } from '../types.js';
import { guarded } from './driver-errors.js';
import type { Queries } from './queries.js';
import { runs, threads } from './tables.js';

/**
 * The thread-row leases on PostgreSQL. Every expiry is computed and judged by the database's
 * own clock, so instances with skewed clocks agree on who holds what: clock_timestamp() (the
 * statement's time, not now(), the transaction's start), so that a lease written late in a
 * slow transaction still lasts its whole TTL from that write, as its holder counts it.
 */
export function leaseStore(db: Queries): LeaseStore {
  return {
    renew: (writer, threadIds, ttlMs) =>
      guarded(async () => {
        if (threadIds.length === 0) return { held: [], cancelRequested: [] };
        // Rows locked in id order, as a writer's multi-thread flush locks them: the two never deadlock.
        const mine = db
          .select({ id: threads.id })
          .from(threads)
          .where(and(eq(threads.writer, writer), inArray(threads.id, [...threadIds])))
          .orderBy(asc(threads.id))
          .for('update');
        const held = await db
          .update(threads)
          .set({ leaseUntil: sql`clock_timestamp() + ${ttlMs} * interval '1 millisecond'` })
          .where(and(eq(threads.writer, writer), inArray(threads.id, mine)))
          .returning({ threadId: threads.id, epoch: threads.writerEpoch });
        const cancelRequested =
          held.length === 0
            ? []
            : await db
                .select({ id: runs.id })
                .from(runs)
                .where(and(inArray(runs.threadId, held.map((h) => h.threadId)), eq(runs.status, 'IN_PROGRESS'), isNotNull(runs.cancelRequestedAt)));
        return { held, cancelRequested: cancelRequested.map((r) => r.id) };
      }),
    expired: (limit) =>
      guarded(async () =>
        (await db.select({ id: threads.id }).from(threads).where(and(isNotNull(threads.writer), sql`${threads.leaseUntil} < clock_timestamp()`)).limit(limit)).map((t) => t.id),
      ),
    heldBy: (writer) => guarded(async () => (await db.select({ id: threads.id }).from(threads).where(eq(threads.writer, writer))).map((t) => t.id)),
    idleWithQueued: (limit) =>
      guarded(async () =>
        (
          await db
            .select({ id: threads.id })
            .from(threads)
            .where(
              and(
                sql`${threads.writer} is null`,
                sql`exists (select 1 from runs r where r.thread_id = ${threads.id} and r.status = 'QUEUED')`,
                sql`not exists (select 1 from runs r where r.thread_id = ${threads.id} and r.status = 'REQUIRES_ACTION')`,
              ),
            )
            .orderBy(asc(threads.pos))
            .limit(limit)
        ).map((t) => t.id),
      ),
  };
}

/** The sequencer's two statements inside a transaction: the row lock (FOR UPDATE [SKIP LOCKED]) and the update. */
export function seqTx(tx: Queries): Pick<StoreTx, 'lockThread' | 'setThreadSeqs'> {
  return {
    lockThread: (threadId, options) =>
      guarded(async () => {
        const rows = await tx
          .select({
            hw: threads.lastEventSeq,
            windowEnd: threads.windowEnd,
            foreignSeq: threads.foreignSeq,
            writer: threads.writer,
            writerEpoch: threads.writerEpoch,
            leaseExpired: sql<boolean>`(${threads.writer} is not null and coalesce(${threads.leaseUntil} < clock_timestamp(), true))`,
          })
          .from(threads)
          .where(eq(threads.id, threadId))
          .for('update', options?.skipLocked ? { skipLocked: true } : undefined);
        if (rows.length > 0) return rows[0] as ThreadSeqState;
        if (!options?.skipLocked) return undefined;
        // SKIP LOCKED returns nothing for a locked row too: tell "locked" from "gone".
        const exists = await tx.select({ id: threads.id }).from(threads).where(eq(threads.id, threadId));
        return exists.length > 0 ? 'locked' : undefined;
      }),
    setThreadSeqs: (threadId, c) =>
      guarded(async () => {
        await seqUpdate(tx, threadId, c);
      }),
  };
}

/** The update of a thread's sequencer and lease (a query to run, or to put in a larger statement). */
export function seqUpdate(tx: Queries, threadId: string, c: ThreadSeqChanges) {
  return tx
    .update(threads)
    .set({
      lastEventSeq: c.hw,
      windowEnd: c.windowEnd,
      foreignSeq: c.foreignSeq,
      writer: c.writer,
      writerEpoch: c.writerEpoch,
      ...(c.leaseMs === undefined ? {} : { leaseUntil: c.leaseMs === null ? null : sql`clock_timestamp() + ${c.leaseMs} * interval '1 millisecond'` }),
      ...(c.touchedAt ? { updatedAt: c.touchedAt } : {}),
    })
    .where(eq(threads.id, threadId));
}
