import { and, eq, getTableColumns, getTableName, inArray, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { eventPayload } from '../../services/events/serialize.js';
import type { ThreadEvent } from '../../services/events/types.js';
import type { StoreTx, ThreadSeqState, UsageDelta } from '../types.js';
import { guarded } from './driver-errors.js';
import type { Queries } from './queries.js';
import { seqTx, seqUpdate } from './leases.js';
import { messages, runs, threads } from './tables.js';

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
  /** Writes what is still held back (before COMMIT). */
  storeHeld(): Promise<void>;
}

/** A statement to put in a larger one: its text numbers its parameters from $1. */
interface Part {
  sql: string;
  params: unknown[];
}

/** `with w0 as (part), w1 as (part) … last`: one round trip; each part's $n renumbered after the ones before. */
function joined(parts: Part[], last: Part): Part {
  if (parts.length === 0) return last;
  const params: unknown[] = [];
  const shift = (part: Part) => {
    const offset = params.length;
    params.push(...part.params);
    return part.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  };
  const ctes = parts.map((part, i) => `w${i} as (${shift(part)})`);
  return { sql: `with ${ctes.join(', ')} ${shift(last)}`, params };
}

/**
 * A named (server-side prepared, per connection) `insert` of every column but `pos`, returning
 * only `pos`: the caller gave the rest of the row. Values are mapped as Drizzle maps them.
 */
function rawInsert<T extends typeof threads | typeof messages | typeof runs>(table: T) {
  const columns = Object.entries(getTableColumns(table) as Record<string, PgColumn>).filter(([key]) => key !== 'pos');
  const name = `threadql.insert.${getTableName(table)}`;
  const text = `insert into "${getTableName(table)}" (${columns.map(([, c]) => `"${c.name}"`).join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')}) returning pos`;
  return async (client: pg.PoolClient, row: Omit<T['$inferSelect'], 'pos'>): Promise<T['$inferSelect']> => {
    const values = columns.map(([key, column]) => {
      const value = (row as Record<string, unknown>)[key];
      return value == null ? null : column.mapToDriverValue(value);
    });
    const result = await client.query<{ pos: string | number }>({ name, text, values });
    return { ...row, pos: Number(result.rows[0]!.pos) } as T['$inferSelect'];
  };
}

const insertThreadRow = rawInsert(threads);
const insertMessageRow = rawInsert(messages);
const insertRunRow = rawInsert(runs);

/**
 * The writes of one open transaction (`tx` is Drizzle on the transaction's pooled connection,
 * `client`). Every statement is a round trip, so the writes whose result nobody reads are held
 * back and sent with the transaction's next sequencer update, which the event log always writes
 * after them, in one statement (`with w0 as (insert into events …), w1 as (update messages …)
 * update threads …`); any left are written before COMMIT. Held: the events, text appended to
 * messages (a status change of its message takes it along, in its own statement) and a run's
 * reply link (written before any other statement on runs). None of them touches the thread row,
 * and nothing in the transaction reads what they write before they are written, so only the
 * round trips change. A thread this transaction inserted needs no read for its lockThread
 * (the insert holds its row; it is as inserted until setThreadSeqs).
 */
export function pgTx(tx: Queries, client: pg.PoolClient): PgTx {
  let held: ThreadEvent[] = [];
  let heldAt = new Date();
  const appends = new Map<string, string>();
  const replies = new Map<string, string>();
  const created = new Map<string, ThreadSeqState>();
  const seqs = seqTx(tx);

  /** The held writes as statements (taken: they are written with the statement they join). */
  const takeHeld = (): Part[] => {
    const parts: Part[] = [];
    if (held.length > 0) parts.push(eventsInsert(held, heldAt));
    held = [];
    for (const [messageId, text] of appends) parts.push({ sql: 'update messages set content = content || $1 where id = $2', params: [text, messageId] });
    appends.clear();
    for (const [runId, messageId] of replies) parts.push({ sql: 'update runs set reply_message_id = $1 where id = $2', params: [messageId, runId] });
    replies.clear();
    return parts;
  };
  /** Writes the held reply links now: the next statement reads or changes runs. */
  const writeReplies = async () => {
    if (replies.size === 0) return;
    const parts = [...replies].map(([runId, messageId]): Part => ({ sql: 'update runs set reply_message_id = $1 where id = $2', params: [messageId, runId] }));
    replies.clear();
    const { sql: text, params } = joined(parts.slice(1), parts[0]!);
    await client.query(text, params);
  };

  return {
    insertThread: (row) =>
      guarded(async () => {
        const inserted = await insertThreadRow(client, row);
        created.set(inserted.id, {
          hw: inserted.lastEventSeq,
          windowEnd: inserted.windowEnd,
          foreignSeq: inserted.foreignSeq,
          writer: inserted.writer,
          writerEpoch: inserted.writerEpoch,
          // As lockThread's `writer is not null and coalesce(lease_until < clock_timestamp(), true)`.
          leaseExpired: inserted.writer !== null && (inserted.leaseUntil === null || inserted.leaseUntil.getTime() < Date.now()),
        });
        return inserted;
      }),
    insertMessage: (row) => guarded(() => insertMessageRow(client, row)),
    appendMessageText: async (messageId, text) => void appends.set(messageId, (appends.get(messageId) ?? '') + text),
    setMessageStatus: (messageId, status, refusal) =>
      guarded(async () => {
        const text = appends.get(messageId) ?? '';
        appends.delete(messageId);
        return first(
          await tx
            .update(messages)
            .set({ content: sql`${messages.content} || ${text}`, status, ...(refusal === undefined ? {} : { refusal }) })
            .where(eq(messages.id, messageId))
            .returning(),
        );
      }),
    insertRun: (row) => guarded(() => insertRunRow(client, row)),
    startRun: (runId, at) =>
      guarded(async () => {
        await writeReplies();
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
    setRunReply: async (runId, messageId) => void replies.set(runId, messageId),
    endRun: (runId, end, from) =>
      guarded(async () => {
        await writeReplies();
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
        await writeReplies();
        const waiting = await tx
          .update(runs)
          .set({ status: 'REQUIRES_ACTION', toolRounds: rounds, expiresAt, ...addUsage(usage) })
          .where(and(eq(runs.id, runId), eq(runs.status, 'IN_PROGRESS')))
          .returning();
        return first(waiting) ?? null;
      }),
    resumeRun: (runId, rounds) =>
      guarded(async () => {
        await writeReplies();
        const resumed = await tx
          .update(runs)
          .set({ status: 'IN_PROGRESS', toolRounds: rounds, expiresAt: null })
          .where(and(eq(runs.id, runId), eq(runs.status, 'REQUIRES_ACTION')))
          .returning();
        return first(resumed) ?? null;
      }),
    lockThread: (threadId, options) => {
      const known = created.get(threadId);
      return known ? Promise.resolve({ ...known }) : seqs.lockThread(threadId, options);
    },
    setThreadSeqs: (threadId, changes) =>
      guarded(async () => {
        created.delete(threadId);
        const update = seqUpdate(tx, threadId, changes);
        const parts = takeHeld();
        if (parts.length === 0) return void (await update);
        const { sql: text, params } = joined(parts, update.toSQL());
        await client.query(text, params);
      }),
    insertEvents: async (stored, at) => {
      // One created_at per transaction's events (every caller passes the time of its commit).
      if (held.length === 0) heldAt = at;
      held.push(...stored);
    },
    storeHeld: () =>
      guarded(async () => {
        const parts = takeHeld();
        if (parts.length === 0) return;
        const { sql: text, params } = parts.length === 1 ? parts[0]! : joined(parts, { sql: 'select 1', params: [] });
        await client.query(text, params);
      }),
  };
}

/** One multi-row insert of events (6 parameters a row). */
function eventsInsert(stored: readonly ThreadEvent[], at: Date): Part {
  const params: unknown[] = [];
  const rows: string[] = [];
  const createdAt = at.toISOString();
  for (const event of stored) {
    const n = params.length;
    rows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6})`);
    params.push(event.threadId, event.seq, event.kind, event.kind === 'MESSAGE_DELTA' ? event.messageId : null, JSON.stringify(eventPayload(event)), createdAt);
  }
  return { sql: `insert into events (thread_id, seq, type, message_id, payload, created_at) values ${rows.join(', ')}`, params };
}
