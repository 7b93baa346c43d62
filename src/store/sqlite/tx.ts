import { getTableColumns, getTableName } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { eventPayload } from '../../services/events/serialize.js';
import type { ThreadEvent } from '../../services/events/types.js';
import type { MessageStatus, RunEnd, RunStatus, StoreTx, ThreadSeqState } from '../types.js';
import type { Db } from './client.js';
import { seqStateOfInserted } from '../rows.js';
import { guarded } from './driver-errors.js';
import { prepared } from './prepared.js';
import { rowReader } from './rows.js';
import { messages, runs, threads } from './tables.js';

/** A run's usage grows with each provider request (a run with tool rounds makes several); null adds nothing. */
const addUsage = ['input_tokens', 'output_tokens', 'total_tokens']
  .map((c, i) => {
    const p = ['@inputTokens', '@outputTokens', '@totalTokens'][i];
    return `${c} = case when ${p} is null then ${c} else coalesce(${c}, 0) + ${p} end`;
  })
  .join(', ');

/**
 * A raw `insert` of every column but `pos`, without RETURNING: the caller gave the whole row,
 * so the stored row is that row with the `pos` SQLite assigned (lastInsertRowid, `pos` being
 * the rowid alias). Values are mapped to the driver as Drizzle maps them (JSON, dates, booleans);
 * test/sqlite-rows.test.ts reads them back through Drizzle.
 */
function rawInsert<T extends typeof threads | typeof messages | typeof runs>(db: Db, table: T) {
  const columns = Object.entries(getTableColumns(table) as Record<string, SQLiteColumn>).filter(([key]) => key !== 'pos');
  const statement = prepared(db, `insert.raw:${getTableName(table)}`, () =>
    db.$client.prepare(`insert into "${getTableName(table)}" (${columns.map(([, c]) => `"${c.name}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`),
  );
  return (row: Omit<T['$inferSelect'], 'pos'>): T['$inferSelect'] => {
    const params: unknown[] = [];
    for (const [key, column] of columns) {
      const value = (row as Record<string, unknown>)[key];
      params.push(value == null ? null : column.mapToDriverValue(value));
    }
    const { lastInsertRowid } = statement.run(params);
    return { ...row, pos: Number(lastInsertRowid) } as T['$inferSelect'];
  };
}

/** Events inserted with one statement per this many rows at most (6 parameters each). */
const EVENTS_PER_INSERT = 64;

/** The SQLite transaction's writes, and what it holds back until its end. */
export interface SqliteTx extends StoreTx {
  /** A transaction begins: nothing is held from an earlier one. */
  reset(): void;
  /** Writes what is still held back (before COMMIT). */
  finish(): void;
}

/**
 * The writes of a transaction, as raw prepared better-sqlite3 statements (Drizzle's per-call
 * parameter filling and row mapping cost more than the statements themselves on these paths);
 * rows read back are decoded by rows.ts as Drizzle's select() decodes them.
 *
 * Two things are held per transaction (one transaction at a time on this connection):
 * - the sequencer state of a thread this transaction inserted: its lockThread needs no read
 *   (the row is as inserted until setThreadSeqs changes it);
 * - text appended to messages: written with the message's status change when the transaction
 *   makes one (one statement), else before COMMIT. Nothing in a transaction reads a message's
 *   content but that status change, whose RETURNING has the appended text.
 */
export function sqliteTx(db: Db): SqliteTx {
  const runReader = rowReader(runs);
  const messageReader = rowReader(messages);
  const client = db.$client;
  const insertEventRows = (count: number) =>
    prepared(db, `events.insert:${count}`, () =>
      client.prepare(`insert into events (thread_id, seq, type, message_id, payload, created_at) values ${Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`),
    );
  const readSeqs = prepared(db, 'threads.seqs', () =>
    client.prepare(
      `select last_event_seq as hw, window_end as windowEnd, foreign_seq as foreignSeq, writer, writer_epoch as writerEpoch,
         (writer is not null and coalesce(lease_until, 0) < ?) as leaseExpired from threads where id = ?`,
    ),
  );
  // updated_at: the time new messages were written (touchedAt), else unchanged.
  const writeSeqs = prepared(db, 'threads.setSeqs', () =>
    client.prepare(
      `update threads set last_event_seq = ?, window_end = ?, foreign_seq = ?, writer = ?, writer_epoch = ?, lease_until = ?,
         updated_at = coalesce(?, updated_at) where id = ?`,
    ),
  );
  const writeSeqsKeepLease = prepared(db, 'threads.setSeqsKeepLease', () =>
    client.prepare(
      'update threads set last_event_seq = ?, window_end = ?, foreign_seq = ?, writer = ?, writer_epoch = ?, updated_at = coalesce(?, updated_at) where id = ?',
    ),
  );
  const appendText = prepared(db, 'messages.append.raw', () => client.prepare('update messages set content = content || ? where id = ?'));
  // Only the thread's oldest QUEUED run starts, and only while none is IN_PROGRESS; one statement, the row returned.
  const start = prepared(db, 'runs.start.raw', () =>
    client
      .prepare(
        `update runs set status = 'IN_PROGRESS', started_at = ? where id = ? and status = 'QUEUED'
           and not exists (select 1 from runs r where r.thread_id = runs.thread_id
             and (r.status in ('IN_PROGRESS', 'REQUIRES_ACTION') or (r.status = 'QUEUED' and r.pos < runs.pos)))
         returning ${runReader.columns}`,
      )
      .raw(),
  );
  const insertThread = rawInsert(db, threads);
  const insertMessage = rawInsert(db, messages);
  const insertRun = rawInsert(db, runs);
  // The status change of a message, with the text this transaction appended to it (or '').
  const setStatus = prepared(db, 'messages.setStatus.raw', () =>
    client.prepare(`update messages set content = content || ?, status = ? where id = ? returning ${messageReader.columns}`).raw(),
  );
  const setStatusAndRefusal = prepared(db, 'messages.setStatusAndRefusal.raw', () =>
    client.prepare(`update messages set content = content || ?, status = ?, refusal = ? where id = ? returning ${messageReader.columns}`).raw(),
  );
  const setReply = prepared(db, 'runs.setReply.raw', () => client.prepare('update runs set reply_message_id = ? where id = ?'));
  /** One prepared end per set of statuses it may end from (QUEUED, IN_PROGRESS, REQUIRES_ACTION). */
  const endFrom = (from: readonly string[]) =>
    prepared(db, `runs.end.raw:${from.join(',')}`, () =>
      client
        .prepare(
          `update runs set status = @status, completed_at = @completedAt, error_code = @errorCode, error_message = @errorMessage,
             incomplete_reason = @incompleteReason, expires_at = null, ${addUsage}
           where id = @id and status in (${from.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ')})
           returning ${runReader.columns}`,
        )
        .raw(),
    );
  const requireAction = prepared(db, 'runs.requireAction.raw', () =>
    client
      .prepare(
        `update runs set status = 'REQUIRES_ACTION', tool_rounds = @rounds, expires_at = @expiresAt, ${addUsage}
         where id = @id and status = 'IN_PROGRESS' returning ${runReader.columns}`,
      )
      .raw(),
  );
  const resume = prepared(db, 'runs.resume.raw', () =>
    client
      .prepare(`update runs set status = 'IN_PROGRESS', tool_rounds = ?, expires_at = null where id = ? and status = 'REQUIRES_ACTION' returning ${runReader.columns}`)
      .raw(),
  );

  const readRun = (values: unknown) => (values === undefined ? null : runReader.read(values as unknown[]));
  /** Threads inserted by this transaction, as inserted (their sequencer not yet written). */
  const created = new Map<string, ThreadSeqState>();
  /** Text appended to messages by this transaction and not yet written. */
  const appends = new Map<string, string>();
  const takeAppend = (messageId: string) => {
    const text = appends.get(messageId) ?? '';
    appends.delete(messageId);
    return text;
  };

  function endRun(runId: string, end: RunEnd, from: readonly RunStatus[]) {
    return readRun(
      endFrom(from).get({
        id: runId,
        status: end.status,
        completedAt: end.completedAt.getTime(),
        errorCode: end.errorCode,
        errorMessage: end.errorMessage,
        incompleteReason: end.incompleteReason,
        inputTokens: end.inputTokens,
        outputTokens: end.outputTokens,
        totalTokens: end.totalTokens,
      }),
    );
  }

  function setMessageStatus(messageId: string, status: MessageStatus, refusal?: string | null) {
    const text = takeAppend(messageId);
    const values = (refusal === undefined ? setStatus.get(text, status, messageId) : setStatusAndRefusal.get(text, status, refusal, messageId)) as unknown[] | undefined;
    return values === undefined ? undefined : messageReader.read(values);
  }

  /** Inserts a thread, remembering its sequencer as inserted (lockThread needs no read). */
  function threadInserted(row: Parameters<typeof insertThread>[0]) {
    const inserted = insertThread(row);
    created.set(inserted.id, seqStateOfInserted(inserted));
    return inserted;
  }

  return {
    reset: () => {
      created.clear();
      appends.clear();
    },
    finish: () => {
      for (const [messageId, text] of appends) appendText.run(text, messageId);
      appends.clear();
    },
    requireAction: async (runId, rounds, expiresAt, usage) =>
      guarded(() => readRun(requireAction.get({ id: runId, rounds: JSON.stringify(rounds), expiresAt: expiresAt.getTime(), ...usage }))),
    resumeRun: async (runId, rounds) => guarded(() => readRun(resume.get(JSON.stringify(rounds), runId))),
    insertThread: async (row) => guarded(() => threadInserted(row)),
    insertThreadWith: async (thread, newMessages, run) =>
      guarded(() => ({ thread: threadInserted(thread), messages: newMessages.map((m) => insertMessage(m)), run: run && insertRun(run) })),
    insertMessage: async (row) => guarded(() => insertMessage(row)),
    appendMessageText: async (messageId, text) => void appends.set(messageId, (appends.get(messageId) ?? '') + text),
    setMessageStatus: async (messageId, status, refusal) => guarded(() => setMessageStatus(messageId, status, refusal)),
    insertRun: async (row) => guarded(() => insertRun(row)),
    startRun: async (runId, at) => guarded(() => readRun(start.get(at.getTime(), runId))),
    setRunReply: async (runId, messageId) => guarded(() => void setReply.run(messageId, runId)),
    endRun: async (runId, end, from) => guarded(() => endRun(runId, end, from)),
    endRunWithReply: async (runId, end, from, refusal) =>
      guarded(() => {
        const run = endRun(runId, end, from);
        if (!run) return null;
        return { run, reply: run.replyMessageId ? setMessageStatus(run.replyMessageId, run.status === 'COMPLETED' ? 'COMPLETED' : 'INCOMPLETE', refusal) : undefined };
      }),
    // One connection, exclusive transactions (BEGIN IMMEDIATE): the row is ours until the commit.
    lockThread: async (threadId) =>
      guarded(() => {
        const known = created.get(threadId);
        if (known) return { ...known };
        const row = readSeqs.get(Date.now(), threadId) as (Omit<ThreadSeqState, 'leaseExpired'> & { leaseExpired: number }) | undefined;
        return row && { ...row, leaseExpired: row.leaseExpired === 1 };
      }),
    setThreadSeqs: async (threadId, c) =>
      guarded(() => {
        created.delete(threadId);
        const touchedAt = c.touchedAt?.getTime() ?? null;
        if (c.leaseMs === undefined) writeSeqsKeepLease.run(c.hw, c.windowEnd, c.foreignSeq, c.writer, c.writerEpoch, touchedAt, threadId);
        else writeSeqs.run(c.hw, c.windowEnd, c.foreignSeq, c.writer, c.writerEpoch, c.leaseMs === null ? null : Date.now() + c.leaseMs, touchedAt, threadId);
      }),
    insertEvents: async (events, at) => guarded(() => insertEvents(events, at.getTime())),
  };

  /** One statement per EVENTS_PER_INSERT rows (each row count prepared once). */
  function insertEvents(events: readonly ThreadEvent[], now: number): void {
    for (let i = 0; i < events.length; i += EVENTS_PER_INSERT) {
      const chunk = events.slice(i, i + EVENTS_PER_INSERT);
      const params: unknown[] = [];
      for (const event of chunk) {
        params.push(event.threadId, event.seq, event.kind, event.kind === 'MESSAGE_DELTA' ? event.messageId : null, JSON.stringify(eventPayload(event)), now);
      }
      insertEventRows(chunk.length).run(params);
    }
  }
}
