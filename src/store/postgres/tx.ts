import { and, eq, inArray, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type pg from 'pg';
import { eventPayload } from '../../services/events/serialize.js';
import type { ThreadEvent } from '../../services/events/types.js';
import type { StoreTx, UsageDelta } from '../types.js';
import { guarded } from './driver-errors.js';
import type { Queries } from './queries.js';
import { seqTx, seqUpdate } from './leases.js';
import { events, messages, runs, threads } from './tables.js';

const first = <T>(rows: T[]): T | undefined => rows[0];

/** A run's usage grows with each provider request (a run with tool rounds makes several); null adds nothing. */
function addUsage(usage: UsageDelta): Partial<Record<keyof UsageDelta, SQL>> {
  const add = (column: SQLWrapper, value: number | null) => (value === null ? undefined : sql`coalesce(${column}, 0) + ${value}`);
  const set: Partial<Record<keyof UsageDelta, SQL>> = {};
  const input = add(runs.inputTokens, usage.inputTokens);
  const output = add(runs.outputTokens, usage.outputTokens);
  const total = add(runs.totalTokens, usage.totalTokens);
  if (input) set.inputTokens = input;
  if (output) set.outputTokens = output;
  if (total) set.totalTokens = total;
  return set;
}

/** The writes of one open transaction, and what it still holds back for its last statements. */
export interface PgTx extends StoreTx {
  /** Inserts the events still held back (before COMMIT). */
  storeHeld(): Promise<void>;
}

/**
 * The writes of one open transaction (`tx` is Drizzle on the transaction's pooled connection,
 * `client`). Every statement is a round trip: the events a transaction inserts are held back
 * and sent with its next sequencer update, which the event log always writes after them, in
 * one statement (`with stored as (insert …) update threads …`); any left are inserted before
 * COMMIT. Nothing in a transaction reads the events it writes, so only the round trips change.
 */
export function pgTx(tx: Queries, client: pg.PoolClient): PgTx {
  let held: (typeof events.$inferInsert)[] = [];
  const seqs = seqTx(tx);
  const takeHeld = () => {
    const rows = held;
    held = [];
    return rows;
  };
  return {
    insertThread: (row) => guarded(async () => first(await tx.insert(threads).values(row).returning())!),
    insertMessage: (row) => guarded(async () => first(await tx.insert(messages).values(row).returning())!),
    appendMessageText: (messageId, text) =>
      guarded(async () => void (await tx.update(messages).set({ content: sql`${messages.content} || ${text}` }).where(eq(messages.id, messageId)))),
    setMessageStatus: (messageId, status, refusal) =>
      guarded(async () =>
        first(await tx.update(messages).set(refusal === undefined ? { status } : { status, refusal }).where(eq(messages.id, messageId)).returning()),
      ),
    insertRun: (row) => guarded(async () => first(await tx.insert(runs).values(row).returning())!),
    startRun: (runId, at) =>
      guarded(async () => {
        // The thread row is locked already (the caller's lockThread, or its insert in this
        // transaction), which orders racing starts: the second one's statement, run after the
        // first commits, sees its IN_PROGRESS run and starts nothing (rather than hitting the
        // partial unique index, which would abort the whole transaction).
        // Only the thread's oldest QUEUED run starts, and only while none is IN_PROGRESS (or waiting).
        const started = await tx
          .update(runs)
          .set({ status: 'IN_PROGRESS', startedAt: at })
          .where(
            and(
              eq(runs.id, runId),
              eq(runs.status, 'QUEUED'),
              sql`not exists (select 1 from runs r where r.thread_id = ${runs.threadId}
                and (r.status in ('IN_PROGRESS', 'REQUIRES_ACTION') or (r.status = 'QUEUED' and r.pos < ${runs.pos})))`,
            ),
          )
          .returning();
        return first(started) ?? null;
      }),
    setRunReply: (runId, messageId) => guarded(async () => first(await tx.update(runs).set({ replyMessageId: messageId }).where(eq(runs.id, runId)).returning())!),
    endRun: (runId, end, from) =>
      guarded(async () => {
        const { status, completedAt, errorCode, errorMessage, incompleteReason } = end;
        const ended = await tx
          .update(runs)
          .set({ status, completedAt, errorCode, errorMessage, incompleteReason, expiresAt: null, ...addUsage(end) })
          .where(and(eq(runs.id, runId), inArray(runs.status, [...from])))
          .returning();
        return first(ended) ?? null;
      }),
    requireAction: (runId, rounds, expiresAt, usage) =>
      guarded(async () => {
        const waiting = await tx
          .update(runs)
          .set({ status: 'REQUIRES_ACTION', toolRounds: rounds, expiresAt, ...addUsage(usage) })
          .where(and(eq(runs.id, runId), eq(runs.status, 'IN_PROGRESS')))
          .returning();
        return first(waiting) ?? null;
      }),
    resumeRun: (runId, rounds) =>
      guarded(async () => {
        const resumed = await tx
          .update(runs)
          .set({ status: 'IN_PROGRESS', toolRounds: rounds, expiresAt: null })
          .where(and(eq(runs.id, runId), eq(runs.status, 'REQUIRES_ACTION')))
          .returning();
        return first(resumed) ?? null;
      }),
    lockThread: seqs.lockThread,
    setThreadSeqs: (threadId, changes) =>
      guarded(async () => {
        const update = seqUpdate(tx, threadId, changes);
        if (held.length === 0) return void (await update);
        const insert = tx.insert(events).values(takeHeld()).toSQL();
        const set = update.toSQL();
        // The update's $1… follow the insert's parameters.
        const shifted = set.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + insert.params.length}`);
        await client.query(`with stored as (${insert.sql}) ${shifted}`, [...insert.params, ...set.params]);
      }),
    insertEvents: async (stored, at) => {
      for (const event of stored) held.push(eventRow(event, at));
    },
    storeHeld: () =>
      guarded(async () => {
        if (held.length > 0) await tx.insert(events).values(takeHeld());
      }),
  };
}

function eventRow(event: ThreadEvent, at: Date): typeof events.$inferInsert {
  return {
    threadId: event.threadId,
    seq: event.seq,
    type: event.kind,
    messageId: event.kind === 'MESSAGE_DELTA' ? event.messageId : null,
    payload: eventPayload(event),
    createdAt: at,
  };
}
