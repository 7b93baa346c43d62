import { getTableColumns, getTableName } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { eventPayload } from '../../services/events/serialize.js';
import type { ThreadEvent } from '../../services/events/types.js';
import type { RunEnd, RunStatus, StoreTx, ThreadRow, ThreadSeqState } from '../types.js';
import { seqStateOfInserted } from '../rows.js';
import { guarded } from './driver-errors.js';
import { lockThread, seqUpdate } from './leases.js';
import { pgRowReader } from './rows.js';
import { messages, runs, threads } from './tables.js';

/** The writes of one open transaction, and what it still holds back for its last statements. */
export interface PgTx extends StoreTx {
  /** Writes what is still held back (before COMMIT). */
  storeHeld(): Promise<void>;
}

/** A statement to put in a larger one: its text numbers its parameters from $1. */
export interface Part {
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
  const values = (row: Omit<T['$inferSelect'], 'pos'>) =>
    columns.map(([key, column]) => {
      const value = (row as Record<string, unknown>)[key];
      return value == null ? null : column.mapToDriverValue(value);
    });
  const insert = async (client: pg.PoolClient, row: Omit<T['$inferSelect'], 'pos'>): Promise<T['$inferSelect']> => {
    const result = await client.query<{ pos: string | number }>({ name, text, values: values(row) });
    return withPos(row, result.rows[0]!.pos);
  };
  /** The insert, to put in a larger statement. */
  const part = (row: Omit<T['$inferSelect'], 'pos'>): Part => ({ sql: text, params: values(row) });
  const withPos = (row: Omit<T['$inferSelect'], 'pos'>, pos: unknown) => ({ ...row, pos: Number(pos) }) as T['$inferSelect'];
  return Object.assign(insert, { part, withPos });
}

const insertThreadRow = rawInsert(threads);
const insertMessageRow = rawInsert(messages);
const insertRunRow = rawInsert(runs);

const runReader = pgRowReader(runs);
const messageReader = pgRowReader(messages);

/** A named statement (prepared once per connection) returning whole rows, or null when none matched. */
async function one<Row>(client: pg.PoolClient, reader: { read(values: readonly unknown[]): Row }, name: string, text: string, values: unknown[]): Promise<Row | null> {
  const result = await client.query<unknown[]>({ name, text, values, rowMode: 'array' });
  const row = result.rows[0];
  return row === undefined ? null : reader.read(row);
}

// A run's usage grows with each provider request (a run with tool rounds makes several); null adds nothing.
const addUsage = (first: number) =>
  ['input_tokens', 'output_tokens', 'total_tokens']
    .map((c, i) => `${c} = case when $${first + i}::integer is null then ${c} else coalesce(${c}, 0) + $${first + i}::integer end`)
    .join(', ');

const START = `update runs set status = 'IN_PROGRESS', started_at = $1 where id = $2 and status = 'QUEUED'
  and not exists (select 1 from runs r where r.thread_id = runs.thread_id
    and (r.status in ('IN_PROGRESS', 'REQUIRES_ACTION') or (r.status = 'QUEUED' and r.pos < runs.pos)))
  returning ${runReader.columns}`;
const END = `update runs set status = $1, completed_at = $2, error_code = $3, error_message = $4, incomplete_reason = $5, expires_at = null, ${addUsage(6)}
  where id = $9 and status = any($10::text[]) returning ${runReader.columns}`;
const REQUIRE_ACTION = `update runs set status = 'REQUIRES_ACTION', tool_rounds = $1, expires_at = $2, ${addUsage(3)}
  where id = $6 and status = 'IN_PROGRESS' returning ${runReader.columns}`;
const RESUME = `update runs set status = 'IN_PROGRESS', tool_rounds = $1, expires_at = null where id = $2 and status = 'REQUIRES_ACTION' returning ${runReader.columns}`;
// END, and the run's reply: COMPLETED with a COMPLETED run, else INCOMPLETE, with its refusal and
// the text this transaction appended to it ($12, if $11 is its id). The run's columns, then the reply's (null: none).
const END_WITH_REPLY = `with ended as (${END}),
  reply as (update messages set content = content || case when id = $11 then $12 else '' end,
      status = case when (select status from ended) = 'COMPLETED' then 'COMPLETED' else 'INCOMPLETE' end, refusal = $13
    where id = (select reply_message_id from ended) returning ${messageReader.columns})
  select ended.*, reply.* from ended left join reply on true`;
const RUN_COLUMNS = Object.keys(getTableColumns(runs)).length;

// The status change of a message, with the text this transaction appended to it (or '').
const SET_STATUS = `update messages set content = content || $1, status = $2 where id = $3 returning ${messageReader.columns}`;
const SET_STATUS_AND_REFUSAL = `update messages set content = content || $1, status = $2, refusal = $4 where id = $3 returning ${messageReader.columns}`;

/**
 * The writes of one open transaction on its pooled connection (`client`), as named statements
 * that node-postgres prepares once per connection (no Drizzle query built per call; rows
 * decoded by rows.ts). Every statement is a round trip, so the writes whose result nobody
 * reads are held back and sent with the transaction's next sequencer update, which the event
 * log always writes after them, in one statement (`with w0 as (insert into events …), w1 as
 * (update messages …) update threads …`); any left are written before COMMIT. Held: the
 * events, text appended to messages (a status change of its message takes it along, in its
 * own statement) and a run's reply link (written before any other statement on runs). None of
 * them touches the thread row, and nothing in the transaction reads what they write before
 * they are written, so only the round trips change. A thread this transaction inserted needs
 * no read for its lockThread (the insert holds its row; it is as inserted until setThreadSeqs).
 */
export function pgTx(client: pg.PoolClient): PgTx {
  /** Events to insert, each with its created_at. */
  let held: [ThreadEvent, string][] = [];
  const appends = new Map<string, string>();
  const replies = new Map<string, string>();
  const created = new Map<string, ThreadSeqState>();
  const replyPart = (runId: string, messageId: string): Part => ({ sql: 'update runs set reply_message_id = $1 where id = $2', params: [messageId, runId] });

  /** The held writes as statements (taken: they are written with the statement they join). */
  const takeHeld = (): Part[] => {
    const parts: Part[] = [];
    if (held.length > 0) parts.push(eventsInsert(held));
    held = [];
    for (const [messageId, text] of appends) parts.push({ sql: 'update messages set content = content || $1 where id = $2', params: [text, messageId] });
    appends.clear();
    for (const [runId, messageId] of replies) parts.push(replyPart(runId, messageId));
    replies.clear();
    return parts;
  };
  /** Writes the held reply links now: the next statement reads or changes runs. */
  const writeReplies = async () => {
    if (replies.size === 0) return;
    const parts = [...replies].map(([runId, messageId]) => replyPart(runId, messageId));
    replies.clear();
    const { sql: text, params } = joined(parts.slice(1), parts[0]!);
    await client.query(text, params);
  };
  /** Writes the held appends now (as one statement). */
  const writeAppends = async () => {
    const parts = [...appends].map(([messageId, text]): Part => ({ sql: 'update messages set content = content || $1 where id = $2', params: [text, messageId] }));
    appends.clear();
    if (parts.length === 0) return;
    const { sql: text, params } = joined(parts.slice(1), parts[0]!);
    await client.query(text, params);
  };
  /** A statement on runs: the held reply links first. */
  const onRuns = async (name: string, text: string, values: unknown[]) => {
    await writeReplies();
    return one(client, runReader, name, text, values);
  };

  /** A thread this transaction inserted: its sequencer as inserted (lockThread needs no read). */
  const threadInserted = (inserted: ThreadRow) => {
    created.set(inserted.id, seqStateOfInserted(inserted));
    return inserted;
  };

  return {
    insertThread: (row) => guarded(async () => threadInserted(await insertThreadRow(client, row))),
    // The thread, its first message and its run in one statement (the row checks of the
    // foreign keys run at its end, when the thread is in); later messages after it, in order.
    insertThreadWith: (thread, newMessages, run) =>
      guarded(async () => {
        const [firstMessage, ...later] = newMessages;
        const parts = [insertThreadRow.part(thread)];
        if (firstMessage) parts.push(insertMessageRow.part(firstMessage));
        if (run) parts.push(insertRunRow.part(run));
        const { sql: text, params } = joined(parts, { sql: `select ${parts.map((_, i) => `(select pos from w${i})`).join(', ')}`, params: [] });
        // One text per shape: a named statement, prepared once per connection.
        const name = `threadql.tx.insertThreadWith${firstMessage ? '.message' : ''}${run ? '.run' : ''}`;
        const [positions] = (await client.query<unknown[]>({ name, text, values: params, rowMode: 'array' })).rows;
        const inserted = threadInserted(insertThreadRow.withPos(thread, positions![0]));
        const messageRows = firstMessage ? [insertMessageRow.withPos(firstMessage, positions![1])] : [];
        for (const row of later) messageRows.push(await insertMessageRow(client, row));
        return { thread: inserted, messages: messageRows, run: run && insertRunRow.withPos(run, positions![parts.length - 1]) };
      }),
    insertMessage: (row) => guarded(() => insertMessageRow(client, row)),
    appendMessageText: async (messageId, text) => void appends.set(messageId, (appends.get(messageId) ?? '') + text),
    setMessageStatus: (messageId, status, refusal) =>
      guarded(async () => {
        const text = appends.get(messageId) ?? '';
        appends.delete(messageId);
        const row =
          refusal === undefined
            ? await one(client, messageReader, 'threadql.tx.messages.setStatus', SET_STATUS, [text, status, messageId])
            : await one(client, messageReader, 'threadql.tx.messages.setStatusAndRefusal', SET_STATUS_AND_REFUSAL, [text, status, messageId, refusal]);
        return row ?? undefined;
      }),
    insertRun: (row) => guarded(() => insertRunRow(client, row)),
    // The thread row is locked already (the caller's lockThread, or its insert in this
    // transaction), which orders racing starts: the second one's statement, run after the
    // first commits, sees its IN_PROGRESS run and starts nothing (rather than hitting the
    // partial unique index, which would abort the whole transaction).
    // Only the thread's oldest QUEUED run starts, and only while none is IN_PROGRESS (or waiting).
    startRun: (runId, at) => guarded(() => onRuns('threadql.tx.runs.start', START, [at.toISOString(), runId])),
    setRunReply: async (runId, messageId) => void replies.set(runId, messageId),
    endRun: (runId, end, from) => guarded(() => onRuns('threadql.tx.runs.end', END, endValues(runId, end, from))),
    endRunWithReply: (runId, end, from, refusal) =>
      guarded(async () => {
        await writeReplies();
        // One held append can go with the reply's update (in a tx ending a run, the reply's own);
        // with more, they are written first, so that the reply's row comes back whole.
        if (appends.size > 1) await writeAppends();
        const [heldId, heldText] = appends.entries().next().value ?? [null, ''];
        const result = await client.query<unknown[]>({
          name: 'threadql.tx.runs.endWithReply',
          text: END_WITH_REPLY,
          values: [...endValues(runId, end, from), heldId, heldText, refusal],
          rowMode: 'array',
        });
        const row = result.rows[0];
        if (!row) return null;
        const reply = row[RUN_COLUMNS] === null ? undefined : messageReader.read(row.slice(RUN_COLUMNS));
        if (reply && reply.id === heldId) appends.delete(heldId);
        return { run: runReader.read(row.slice(0, RUN_COLUMNS)), reply };
      }),
    requireAction: (runId, rounds, expiresAt, usage) =>
      guarded(() =>
        onRuns('threadql.tx.runs.requireAction', REQUIRE_ACTION, [JSON.stringify(rounds), expiresAt.toISOString(), usage.inputTokens, usage.outputTokens, usage.totalTokens, runId]),
      ),
    resumeRun: (runId, rounds) => guarded(() => onRuns('threadql.tx.runs.resume', RESUME, [JSON.stringify(rounds), runId])),
    lockThread: (threadId, options) => {
      const known = created.get(threadId);
      return known ? Promise.resolve({ ...known }) : lockThread(client, threadId, options);
    },
    setThreadSeqs: (threadId, changes) =>
      guarded(async () => {
        created.delete(threadId);
        const { sql: text, params } = joined(takeHeld(), seqUpdate(threadId, changes));
        await client.query(text, params);
      }),
    insertEvents: async (stored, at) => {
      const createdAt = at.toISOString();
      for (const event of stored) held.push([event, createdAt]);
    },
    storeHeld: () =>
      guarded(async () => {
        const parts = takeHeld();
        if (parts.length === 0) return;
        const { sql: text, params } = joined(parts, { sql: 'select 1', params: [] });
        await client.query(text, params);
      }),
  };
}

/** END's parameters. */
function endValues(runId: string, end: RunEnd, from: readonly RunStatus[]): unknown[] {
  const { status, completedAt, errorCode, errorMessage, incompleteReason, inputTokens, outputTokens, totalTokens } = end;
  return [status, completedAt.toISOString(), errorCode, errorMessage, incompleteReason, inputTokens, outputTokens, totalTokens, runId, [...from]];
}

/** One multi-row insert of events (6 parameters a row). */
function eventsInsert(stored: readonly [ThreadEvent, string][]): Part {
  const params: unknown[] = [];
  const rows: string[] = [];
  for (const [event, createdAt] of stored) {
    const n = params.length;
    rows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6})`);
    params.push(event.threadId, event.seq, event.kind, event.kind === 'MESSAGE_DELTA' ? event.messageId : null, JSON.stringify(eventPayload(event)), createdAt);
  }
  return { sql: `insert into events (thread_id, seq, type, message_id, payload, created_at) values ${rows.join(', ')}`, params };
}
