import { sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, index, integer, json, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import {
  LOCAL_OWNER,
  eventTypes,
  messageRoles,
  messageStatuses,
  runStatuses,
  type FunctionTool,
  type Metadata,
  type ToolChoice,
  type ToolRound,
  type TruncationStrategy,
} from '../sqlite/tables.js';

/**
 * The PostgreSQL tables: the SQLite tables column for column (same names, same row types, see
 * row-parity.ts), so that both stores return one row shape. Drizzle has no dialect-agnostic
 * table builder, hence a second schema and its own migrations.
 *
 * - `pos` and seqs are `bigint` (read as numbers: they stay far below 2^53).
 * - Timestamps are `timestamptz` read as Dates, like SQLite's `timestamp_ms`.
 * - JSON is `json`, not `jsonb`: it keeps the text as written (key order included), as SQLite's
 *   TEXT does, so metadata and tool schemas come back exactly as they were given.
 */

const pos = () => bigint('pos', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity();
const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => at('created_at').notNull();
const owner = () => text('owner').notNull().default(LOCAL_OWNER);

export const assistants = pgTable('assistants', {
  pos: pos(),
  id: text('id').notNull().unique(),
  owner: owner(),
  name: text('name'),
  /** The Assistants API's description (/v1). */
  description: text('description'),
  model: text('model'),
  instructions: text('instructions'),
  temperature: doublePrecision('temperature'),
  truncation: json('truncation').$type<TruncationStrategy>(),
  tools: json('tools').$type<FunctionTool[]>(),
  metadata: json('metadata').$type<Metadata>().notNull(),
  createdAt: createdAt(),
  updatedAt: at('updated_at').notNull(),
});

export const threads = pgTable(
  'threads',
  {
    pos: pos(),
    id: text('id').notNull().unique(),
    owner: owner(),
    assistantId: text('assistant_id').references(() => assistants.id, { onDelete: 'set null' }),
    title: text('title'),
    truncation: json('truncation').$type<TruncationStrategy>(),
    metadata: json('metadata').$type<Metadata>().notNull(),
    /** The high-water mark: every seq <= it is final (see services/events/seq-window.ts and the SQLite table). */
    lastEventSeq: bigint('last_event_seq', { mode: 'number' }).notNull().default(0),
    windowEnd: bigint('window_end', { mode: 'number' }).notNull().default(0),
    foreignSeq: bigint('foreign_seq', { mode: 'number' }).notNull().default(0),
    writer: text('writer'),
    writerEpoch: bigint('writer_epoch', { mode: 'number' }).notNull().default(0),
    /** By the database's clock only (now()), never an instance's. */
    leaseUntil: at('lease_until'),
    createdAt: createdAt(),
    updatedAt: at('updated_at').notNull(),
  },
  (t) => [
    index('threads_assistant_idx').on(t.assistantId, t.pos),
    index('threads_owner_idx').on(t.owner, t.pos),
    index('threads_lease_idx').on(t.leaseUntil).where(sql`writer is not null`),
  ],
);

export const messages = pgTable(
  'messages',
  {
    pos: pos(),
    id: text('id').notNull().unique(),
    owner: owner(),
    threadId: text('thread_id')
      .notNull()
      .references(() => threads.id, { onDelete: 'cascade' }),
    role: text('role', { enum: messageRoles }).notNull(),
    content: text('content').notNull(),
    refusal: text('refusal'),
    status: text('status', { enum: messageStatuses }).notNull(),
    runId: text('run_id'),
    idempotencyKey: text('idempotency_key'),
    metadata: json('metadata').$type<Metadata>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('messages_thread_idx').on(t.threadId, t.pos),
    index('messages_run_idx').on(t.runId),
    uniqueIndex('messages_idempotency_idx').on(t.threadId, t.idempotencyKey),
  ],
);

export const runs = pgTable(
  'runs',
  {
    pos: pos(),
    id: text('id').notNull().unique(),
    owner: owner(),
    threadId: text('thread_id')
      .notNull()
      .references(() => threads.id, { onDelete: 'cascade' }),
    assistantId: text('assistant_id'),
    status: text('status', { enum: runStatuses }).notNull(),
    model: text('model').notNull(),
    instructions: text('instructions'),
    replyMessageId: text('reply_message_id'),
    tools: json('tools').$type<FunctionTool[]>(),
    toolChoice: json('tool_choice').$type<ToolChoice>(),
    parallelToolCalls: boolean('parallel_tool_calls'),
    toolRounds: json('tool_rounds').$type<ToolRound[]>().notNull().default(sql`'[]'::json`),
    expiresAt: at('expires_at'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    incompleteReason: text('incomplete_reason'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    totalTokens: integer('total_tokens'),
    /** Per-run options of the Assistants API (/v1); null: the assistant's or the thread's. */
    temperature: doublePrecision('temperature'),
    truncation: json('truncation').$type<TruncationStrategy>(),
    maxPromptTokens: integer('max_prompt_tokens'),
    maxCompletionTokens: integer('max_completion_tokens'),
    metadata: json('metadata').$type<Metadata>().notNull().default(sql`'{}'::json`),
    /** Exactly-once run creation (/v1 Idempotency-Key), per owner. */
    idempotencyKey: text('idempotency_key'),
    createdAt: createdAt(),
    startedAt: at('started_at'),
    completedAt: at('completed_at'),
    cancelRequestedAt: at('cancel_requested_at'),
  },
  (t) => [
    index('runs_thread_idx').on(t.threadId, t.pos),
    index('runs_status_idx').on(t.status).where(sql`status in ('QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION')`),
    // At most one executing run per thread, whatever races to start one (a waiting run counts).
    uniqueIndex('runs_one_in_progress_idx').on(t.threadId).where(sql`status in ('IN_PROGRESS', 'REQUIRES_ACTION')`),
    uniqueIndex('runs_idempotency_idx').on(t.owner, t.idempotencyKey),
  ],
);

export const events = pgTable(
  'events',
  {
    threadId: text('thread_id')
      .notNull()
      .references(() => threads.id, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: text('type', { enum: eventTypes }).notNull(),
    messageId: text('message_id'),
    payload: json('payload').$type<unknown>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.threadId, t.seq] }), index('events_delta_idx').on(t.type, t.createdAt)],
);

export const apiKeys = pgTable('api_keys', {
  pos: pos(),
  id: text('id').notNull().unique(),
  owner: text('owner').notNull(),
  hash: text('hash').notNull().unique(),
  prefix: text('prefix').notNull(),
  createdAt: createdAt(),
  revokedAt: at('revoked_at'),
});
