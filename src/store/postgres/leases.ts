import { and, asc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type pg from 'pg';
import type { LeaseStore, ThreadSeqChanges, ThreadSeqState } from '../types.js';
import { guarded } from './driver-errors.js';
import type { Queries } from './queries.js';
import { runs, threads } from './tables.js';
import type { Part } from './tx.js';

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

const SEQS = `select last_event_seq, window_end, foreign_seq, writer, writer_epoch,
  (writer is not null and coalesce(lease_until < clock_timestamp(), true)) as lease_expired from threads where id = $1`;

/**
 * Locks the thread's row for the rest of the transaction (FOR UPDATE [SKIP LOCKED]) and reads
 * its sequencer: named statements, prepared once per connection.
 */
export function lockThread(client: pg.PoolClient, threadId: string, options?: { skipLocked?: boolean }): Promise<ThreadSeqState | undefined | 'locked'> {
  return guarded(async () => {
    const { rows } = options?.skipLocked
      ? await client.query<unknown[]>({ name: 'threadql.tx.threads.lockSkipLocked', text: `${SEQS} for update skip locked`, values: [threadId], rowMode: 'array' })
      : await client.query<unknown[]>({ name: 'threadql.tx.threads.lock', text: `${SEQS} for update`, values: [threadId], rowMode: 'array' });
    const row = rows[0];
    if (row) {
      const [hw, windowEnd, foreignSeq, writer, writerEpoch, leaseExpired] = row;
      // bigint columns arrive as text.
      return { hw: Number(hw), windowEnd: Number(windowEnd), foreignSeq: Number(foreignSeq), writer: writer as string | null, writerEpoch: Number(writerEpoch), leaseExpired: leaseExpired === true };
    }
    if (!options?.skipLocked) return undefined;
    // SKIP LOCKED returns nothing for a locked row too: tell "locked" from "gone".
    const exists = await client.query({ name: 'threadql.tx.threads.exists', text: 'select 1 from threads where id = $1', values: [threadId] });
    return exists.rows.length > 0 ? 'locked' : undefined;
  });
}

/**
 * The update of a thread's sequencer and lease, to run or to put in a larger statement (tx.ts).
 * lease_until = the database's clock + leaseMs (null clears it, undefined keeps it); updated_at
 * = touchedAt when given.
 */
export function seqUpdate(threadId: string, c: ThreadSeqChanges): Part {
  const params: unknown[] = [c.hw, c.windowEnd, c.foreignSeq, c.writer, c.writerEpoch, threadId];
  let set = 'last_event_seq = $1, window_end = $2, foreign_seq = $3, writer = $4, writer_epoch = $5';
  if (c.leaseMs !== undefined) {
    if (c.leaseMs === null) set += ', lease_until = null';
    else set += `, lease_until = clock_timestamp() + $${params.push(c.leaseMs)} * interval '1 millisecond'`;
  }
  if (c.touchedAt) set += `, updated_at = $${params.push(c.touchedAt.toISOString())}`;
  return { sql: `update threads set ${set} where id = $6`, params };
}
