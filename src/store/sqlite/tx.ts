import { and, eq, getTableColumns, getTableName, inArray, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { eventPayload } from '../../services/events/serialize.js';
import type { StoreTx, ThreadSeqState } from '../types.js';
import type { Db } from './client.js';
import { guarded } from './driver-errors.js';
import { prepared } from './prepared.js';
import { messages, runs, threads } from './tables.js';

const param = (name: string) => sql`${sql.placeholder(name)}`;

/** A run's usage grows with each provider request (a run with tool rounds makes several). */
function addUsage() {
  const add = (column: SQLWrapper, name: string) =>
    sql`case when ${sql.placeholder(name)} is null then ${column} else coalesce(${column}, 0) + ${sql.placeholder(name)} end`;
  return { inputTokens: add(runs.inputTokens, 'inputTokens'), outputTokens: add(runs.outputTokens, 'outputTokens'), totalTokens: add(runs.totalTokens, 'totalTokens') };
}

/**
 * A prepared `insert … returning *`, a placeholder per column but `pos`. Values are mapped to
 * the driver here (JSON, dates): Drizzle's own mapping of placeholders fails on nulls.
 */
function preparedInsert<T extends typeof threads | typeof messages | typeof runs>(db: Db, table: T) {
  const columns = Object.entries(getTableColumns(table)).filter(([key]) => key !== 'pos');
  const statement = prepared(db, `insert:${getTableName(table)}`, () => {
    const values: Record<string, SQL> = {};
    for (const [key] of columns) values[key] = sql`${sql.placeholder(key)}`;
    return db.insert(table as typeof threads).values(values as never).returning().prepare();
  });
  return (row: Omit<T['$inferSelect'], 'pos'>) => {
    const params: Record<string, unknown> = {};
    for (const [key, column] of columns) {
      const value = (row as Record<string, unknown>)[key];
      params[key] = value == null ? null : column.mapToDriverValue(value);
    }
    return statement.get(params) as unknown as T['$inferSelect'];
  };
}

export function sqliteTx(db: Db): StoreTx {
  const insertEvent = prepared(db, 'events.insert', () =>
    db.$client.prepare('insert into events (thread_id, seq, type, message_id, payload, created_at) values (?, ?, ?, ?, ?, ?)'),
  );
  const readSeqs = prepared(db, 'threads.seqs', () =>
    db.$client.prepare(
      `select last_event_seq as hw, window_end as windowEnd, foreign_seq as foreignSeq, writer, writer_epoch as writerEpoch,
         (writer is not null and coalesce(lease_until, 0) < ?) as leaseExpired from threads where id = ?`,
    ),
  );
  // updated_at: the time new messages were written (touchedAt), else unchanged.
  const writeSeqs = prepared(db, 'threads.setSeqs', () =>
    db.$client.prepare(
      `update threads set last_event_seq = ?, window_end = ?, foreign_seq = ?, writer = ?, writer_epoch = ?, lease_until = ?,
         updated_at = coalesce(?, updated_at) where id = ?`,
    ),
  );
  const writeSeqsKeepLease = prepared(db, 'threads.setSeqsKeepLease', () =>
    db.$client.prepare(
      'update threads set last_event_seq = ?, window_end = ?, foreign_seq = ?, writer = ?, writer_epoch = ?, updated_at = coalesce(?, updated_at) where id = ?',
    ),
  );
  const appendText = prepared(db, 'messages.append', () =>
    db
      .update(messages)
      .set({ content: sql`${messages.content} || ${sql.placeholder('text')}` })
      .where(eq(messages.id, sql.placeholder('messageId')))
      .prepare(),
  );
  // Only the thread's oldest QUEUED run starts, and only while none is IN_PROGRESS; one statement, the row returned.
  const start = prepared(db, 'runs.start', () =>
    db
      .update(runs)
      .set({ status: 'IN_PROGRESS', startedAt: param('at') })
      .where(
        and(
          eq(runs.id, sql.placeholder('id')),
          eq(runs.status, 'QUEUED'),
          sql`not exists (select 1 from runs r where r.thread_id = ${runs.threadId}
            and (r.status in ('IN_PROGRESS', 'REQUIRES_ACTION') or (r.status = 'QUEUED' and r.pos < ${runs.pos})))`,
        ),
      )
      .returning()
      .prepare(),
  );
  const insertThread = preparedInsert(db, threads);
  const insertMessage = preparedInsert(db, messages);
  const insertRun = preparedInsert(db, runs);
  const setStatus = prepared(db, 'messages.setStatus', () =>
    db.update(messages).set({ status: param('status') }).where(eq(messages.id, sql.placeholder('id'))).returning().prepare(),
  );
  const setStatusAndRefusal = prepared(db, 'messages.setStatusAndRefusal', () =>
    db.update(messages).set({ status: param('status'), refusal: param('refusal') }).where(eq(messages.id, sql.placeholder('id'))).returning().prepare(),
  );
  const setReply = prepared(db, 'runs.setReply', () =>
    db.update(runs).set({ replyMessageId: param('messageId') }).where(eq(runs.id, sql.placeholder('id'))).returning().prepare(),
  );
  /** One prepared end per set of statuses it may end from (QUEUED, IN_PROGRESS, REQUIRES_ACTION). */
  const endFrom = (from: readonly string[]) =>
    prepared(db, `runs.end:${from.join(',')}`, () =>
      db
        .update(runs)
        .set({
          status: param('status'),
          completedAt: param('completedAt'),
          errorCode: param('errorCode'),
          errorMessage: param('errorMessage'),
          incompleteReason: param('incompleteReason'),
          expiresAt: null,
          ...addUsage(),
        })
        .where(and(eq(runs.id, sql.placeholder('id')), inArray(runs.status, [...from] as never)))
        .returning()
        .prepare(),
    );

  const requireAction = prepared(db, 'runs.requireAction', () =>
    db
      .update(runs)
      .set({ status: 'REQUIRES_ACTION', toolRounds: param('rounds'), expiresAt: param('expiresAt'), ...addUsage() })
      .where(and(eq(runs.id, sql.placeholder('id')), eq(runs.status, 'IN_PROGRESS')))
      .returning()
      .prepare(),
  );
  const resume = prepared(db, 'runs.resume', () =>
    db
      .update(runs)
      .set({ status: 'IN_PROGRESS', toolRounds: param('rounds'), expiresAt: null })
      .where(and(eq(runs.id, sql.placeholder('id')), eq(runs.status, 'REQUIRES_ACTION')))
      .returning()
      .prepare(),
  );

  return {
    requireAction: async (runId, rounds, expiresAt, usage) =>
      guarded(() => requireAction.get({ id: runId, rounds: JSON.stringify(rounds), expiresAt: expiresAt.getTime(), ...usage }) ?? null),
    resumeRun: async (runId, rounds) => guarded(() => resume.get({ id: runId, rounds: JSON.stringify(rounds) }) ?? null),
    insertThread: async (row) => guarded(() => insertThread(row)),
    insertMessage: async (row) => guarded(() => insertMessage(row)),
    appendMessageText: async (messageId, text) => guarded(() => void appendText.run({ messageId, text })),
    setMessageStatus: async (messageId, status, refusal) =>
      guarded(() => (refusal === undefined ? setStatus.get({ id: messageId, status }) : setStatusAndRefusal.get({ id: messageId, status, refusal }))),
    insertRun: async (row) => guarded(() => insertRun(row)),
    startRun: async (runId, at) => guarded(() => start.get({ id: runId, at: at.getTime() }) ?? null),
    setRunReply: async (runId, messageId) => guarded(() => setReply.get({ id: runId, messageId })!),
    endRun: async (runId, end, from) =>
      guarded(() => endFrom(from).get({ ...end, id: runId, completedAt: end.completedAt.getTime() }) ?? null),
    // One connection, exclusive transactions (BEGIN IMMEDIATE): the row is ours until the commit.
    lockThread: async (threadId) =>
      guarded(() => {
        const row = readSeqs.get(Date.now(), threadId) as (Omit<ThreadSeqState, 'leaseExpired'> & { leaseExpired: number }) | undefined;
        return row && { ...row, leaseExpired: row.leaseExpired === 1 };
      }),
    setThreadSeqs: async (threadId, c) =>
      guarded(() => {
        const touchedAt = c.touchedAt?.getTime() ?? null;
        if (c.leaseMs === undefined) writeSeqsKeepLease.run(c.hw, c.windowEnd, c.foreignSeq, c.writer, c.writerEpoch, touchedAt, threadId);
        else writeSeqs.run(c.hw, c.windowEnd, c.foreignSeq, c.writer, c.writerEpoch, c.leaseMs === null ? null : Date.now() + c.leaseMs, touchedAt, threadId);
      }),
    insertEvents: async (events, at) =>
      guarded(() => {
        const now = at.getTime();
        for (const event of events) {
          const messageId = event.kind === 'MESSAGE_DELTA' ? event.messageId : null;
          insertEvent.run(event.threadId, event.seq, event.kind, messageId, JSON.stringify(eventPayload(event)), now);
        }
      }),
  };
}
