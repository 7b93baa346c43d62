import { sql } from 'drizzle-orm';
import { index, integer, real, sqliteTable, text, uniqueIndex, primaryKey } from 'drizzle-orm/sqlite-core';

/**
 * Every table has an integer `pos` (SQLite's rowid alias): it orders rows of equal timestamps
 * and is what pagination cursors encode. The public `id` is the prefixed random string.
 */

export type Metadata = Record<string, string>;

/**
 * How much of a long thread a run sends (like the Assistants API's truncation_strategy):
 * AUTO keeps the newest messages that fit an approximate token budget; LAST_MESSAGES keeps
 * the newest N, and the budget still applies.
 */
export interface TruncationStrategy {
  type: 'AUTO' | 'LAST_MESSAGES';
  lastMessages?: number | null;
  maxInputTokens?: number | null;
}

const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull();

/** A function the model may call (OpenAI's function tool). */
export interface FunctionTool {
  name: string;
  description: string | null;
  /** A JSON Schema object; null: no parameters. */
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

/** AUTO (the model decides), NONE (no calls), REQUIRED (at least one), FUNCTION (`functionName`). */
export interface ToolChoice {
  mode: 'AUTO' | 'NONE' | 'REQUIRED' | 'FUNCTION';
  functionName: string | null;
}

/** One call the model made: our id, the provider's, and the output once submitted. */
export interface StoredToolCall {
  id: string;
  providerId: string;
  name: string;
  arguments: string;
  output: string | null;
}

/**
 * One round of tool calls, a step of its run: the text the model wrote in this leg before
 * calling (it is also in the reply's content), the calls, and when their outputs came.
 */
export interface ToolRound {
  text: string;
  calls: StoredToolCall[];
  createdAt: number;
  submittedAt: number | null;
}

/**
 * Every object belongs to the owner of the API key that created it. With no keys (local,
 * open mode) the owner is LOCAL_OWNER.
 */
export const LOCAL_OWNER = 'local';
const owner = () => text('owner').notNull().default(LOCAL_OWNER);

export const assistants = sqliteTable('assistants', {
  pos: integer('pos').primaryKey({ autoIncrement: true }),
  id: text('id').notNull().unique(),
  owner: owner(),
  name: text('name'),
  /** The Assistants API's description (/v1). */
  description: text('description'),
  model: text('model'),
  instructions: text('instructions'),
  temperature: real('temperature'),
  truncation: text('truncation', { mode: 'json' }).$type<TruncationStrategy>(),
  /** Function tools for this assistant's runs; null: none. */
  tools: text('tools', { mode: 'json' }).$type<FunctionTool[]>(),
  metadata: text('metadata', { mode: 'json' }).$type<Metadata>().notNull(),
  createdAt: createdAt(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});

export const threads = sqliteTable(
  'threads',
  {
    pos: integer('pos').primaryKey({ autoIncrement: true }),
    id: text('id').notNull().unique(),
    owner: owner(),
    // A deleted assistant leaves its threads readable, without an assistant.
    assistantId: text('assistant_id').references(() => assistants.id, { onDelete: 'set null' }),
    title: text('title'),
    /** Overrides the assistant's truncation strategy for this thread. */
    truncation: text('truncation', { mode: 'json' }).$type<TruncationStrategy>(),
    metadata: text('metadata', { mode: 'json' }).$type<Metadata>().notNull(),
    /**
     * The high-water mark (HW): every seq <= it is final (a stored row, or a gap that stays
     * one). Readers return only rows up to it.
     */
    lastEventSeq: integer('last_event_seq').notNull().default(0),
    /** While a run executes: its instance may publish seqs in (HW, windowEnd] before storing them. */
    windowEnd: integer('window_end').notNull().default(0),
    /** Seqs other instances took above windowEnd while a run executes (0: none); HW reaches them at the writer's next store. */
    foreignSeq: integer('foreign_seq').notNull().default(0),
    /** The instance executing this thread's run (null: idle), the lease's epoch (+1 at every acquisition) and its expiry. */
    writer: text('writer'),
    writerEpoch: integer('writer_epoch').notNull().default(0),
    leaseUntil: integer('lease_until', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [
    index('threads_assistant_idx').on(t.assistantId, t.pos),
    index('threads_owner_idx').on(t.owner, t.pos),
    index('threads_lease_idx').on(t.leaseUntil).where(sql`writer is not null`),
  ],
);

export const messageRoles = ['USER', 'ASSISTANT', 'SYSTEM'] as const;
export const messageStatuses = ['IN_PROGRESS', 'COMPLETED', 'INCOMPLETE'] as const;

export const messages = sqliteTable(
  'messages',
  {
    pos: integer('pos').primaryKey({ autoIncrement: true }),
    id: text('id').notNull().unique(),
    owner: owner(),
    threadId: text('thread_id')
      .notNull()
      .references(() => threads.id, { onDelete: 'cascade' }),
    role: text('role', { enum: messageRoles }).notNull(),
    content: text('content').notNull(),
    /** For an ASSISTANT reply the model declined to give: its refusal text (content holds whatever else it wrote). */
    refusal: text('refusal'),
    status: text('status', { enum: messageStatuses }).notNull(),
    /** For a USER message: the run it started. For an ASSISTANT message: the run that wrote it. */
    runId: text('run_id'),
    /** Exactly-once sends: a retried sendMessage with the same key finds this row. */
    idempotencyKey: text('idempotency_key'),
    metadata: text('metadata', { mode: 'json' }).$type<Metadata>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('messages_thread_idx').on(t.threadId, t.pos),
    // Every run reads its own user message (and history its earlier runs' replies) by run: without it, a scan of all messages.
    index('messages_run_idx').on(t.runId),
    uniqueIndex('messages_idempotency_idx').on(t.threadId, t.idempotencyKey),
  ],
);

export const runStatuses = ['QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION', 'COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE', 'EXPIRED'] as const;
export type RunStatus = (typeof runStatuses)[number];

export const runs = sqliteTable(
  'runs',
  {
    pos: integer('pos').primaryKey({ autoIncrement: true }),
    id: text('id').notNull().unique(),
    owner: owner(),
    threadId: text('thread_id')
      .notNull()
      .references(() => threads.id, { onDelete: 'cascade' }),
    assistantId: text('assistant_id'),
    status: text('status', { enum: runStatuses }).notNull(),
    model: text('model').notNull(),
    /** Instructions given with the request that started the run; null: the assistant's. */
    instructions: text('instructions'),
    replyMessageId: text('reply_message_id'),
    /** The tools this run may call (the input's, else the assistant's, when it was created); null: none. */
    tools: text('tools', { mode: 'json' }).$type<FunctionTool[]>(),
    toolChoice: text('tool_choice', { mode: 'json' }).$type<ToolChoice>(),
    parallelToolCalls: integer('parallel_tool_calls', { mode: 'boolean' }),
    /** Its rounds of tool calls, in order (the steps before its reply). */
    toolRounds: text('tool_rounds', { mode: 'json' }).$type<ToolRound[]>().notNull().default(sql`'[]'`),
    /** While REQUIRES_ACTION: when it ends EXPIRED. */
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    /** Why the provider stopped early, for INCOMPLETE runs (`length`, `content_filter`). */
    incompleteReason: text('incomplete_reason'),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    totalTokens: integer('total_tokens'),
    /** Per-run options of the Assistants API (/v1); null: the assistant's or the thread's. */
    temperature: real('temperature'),
    truncation: text('truncation', { mode: 'json' }).$type<TruncationStrategy>(),
    maxPromptTokens: integer('max_prompt_tokens'),
    maxCompletionTokens: integer('max_completion_tokens'),
    metadata: text('metadata', { mode: 'json' }).$type<Metadata>().notNull().default(sql`'{}'`),
    /** Exactly-once run creation (/v1 Idempotency-Key), per owner. */
    idempotencyKey: text('idempotency_key'),
    createdAt: createdAt(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    completedAt: integer('completed_at', { mode: 'timestamp_ms' }),
    /** A cancelRun reached the database (the durable fallback when the message to the executing instance is lost). */
    cancelRequestedAt: integer('cancel_requested_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    index('runs_thread_idx').on(t.threadId, t.pos),
    index('runs_status_idx').on(t.status).where(sql`status in ('QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION')`),
    // At most one executing run per thread, whatever races to start one.
    // A run waiting for tool outputs holds its thread as an executing one does.
    uniqueIndex('runs_one_in_progress_idx').on(t.threadId).where(sql`status in ('IN_PROGRESS', 'REQUIRES_ACTION')`),
    uniqueIndex('runs_idempotency_idx').on(t.owner, t.idempotencyKey),
  ],
);

export const eventTypes = ['RUN_STATUS', 'MESSAGE', 'MESSAGE_DELTA'] as const;

/** The per-thread event log: what live subscribers received, replayable by seq. */
export const events = sqliteTable(
  'events',
  {
    threadId: text('thread_id')
      .notNull()
      .references(() => threads.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    type: text('type', { enum: eventTypes }).notNull(),
    /** For MESSAGE_DELTA: the message it appends to (compaction deletes by it). */
    messageId: text('message_id'),
    payload: text('payload', { mode: 'json' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.threadId, t.seq] }), index('events_delta_idx').on(t.type, t.createdAt)],
);

/** API keys: only a hash is stored; the key itself is shown once, at creation. */
export const apiKeys = sqliteTable('api_keys', {
  pos: integer('pos').primaryKey({ autoIncrement: true }),
  id: text('id').notNull().unique(),
  owner: text('owner').notNull(),
  /** SHA-256 of the whole key, hex. Keys carry 256 random bits, so a fast hash is enough. */
  hash: text('hash').notNull().unique(),
  /** The first characters of the key, to recognise it in `keys list`. */
  prefix: text('prefix').notNull(),
  createdAt: createdAt(),
  revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
});

export type AssistantRow = typeof assistants.$inferSelect;
export type ThreadRow = typeof threads.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type RunRow = typeof runs.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
