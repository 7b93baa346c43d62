import type { ThreadEvent } from '../services/events/types.js';
import type {
  ToolRound,
  ApiKeyRow,
  AssistantRow,
  MessageRow,
  MessageStatus,
  Metadata,
  RunRow,
  RunStatus,
  ThreadRow,
  TruncationStrategy,
} from './rows.js';

export * from './rows.js';

/**
 * The storage behind the services. Every method is asynchronous so that a PostgreSQL store can
 * implement the same interface; the SQLite store answers from synchronous better-sqlite3 calls.
 * Rules that must hold under concurrency live in the database, not in the callers' timing:
 * a unique (thread, idempotency key) index, at most one IN_PROGRESS run per thread (a partial
 * unique index), conditional run transitions, and seqs allocated by the thread row's counter.
 */
export interface Store {
  readonly assistants: AssistantStore;
  readonly threads: ThreadStore;
  readonly messages: MessageStore;
  readonly runs: RunStore;
  readonly events: EventStore;
  readonly keys: KeyStore;
  readonly leases: LeaseStore;
  /** Runs `work` in one transaction: all of its writes commit, or none. */
  transaction<T>(work: (tx: StoreTx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Resolves when the database answers a trivial query (readiness checks). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Which rows a page needs: strictly after / before the cursors' positions, from the far end for `last`. */
export interface PageWindow {
  after: number | null;
  before: number | null;
  fromEnd: boolean;
  limit: number;
}

export type NewAssistant = Omit<AssistantRow, 'pos'>;
export type AssistantChanges = Partial<Pick<AssistantRow, 'name' | 'description' | 'model' | 'instructions' | 'temperature' | 'truncation' | 'tools' | 'metadata'>>;

export interface AssistantStore {
  insert(row: NewAssistant): Promise<AssistantRow>;
  update(id: string, changes: AssistantChanges, updatedAt: Date): Promise<AssistantRow | undefined>;
  delete(id: string): Promise<void>;
  find(id: string, owner?: string): Promise<AssistantRow | undefined>;
  findMany(ids: readonly string[]): Promise<AssistantRow[]>;
  /** The owner's assistants, newest first. */
  page(owner: string, window: PageWindow): Promise<AssistantRow[]>;
}

export interface ThreadFilter {
  owner: string;
  assistantId?: string | null;
  /** Threads whose metadata has every key with the given value. */
  metadata?: Metadata;
}

export type ThreadChanges = Partial<Pick<ThreadRow, 'title' | 'truncation' | 'metadata'>>;

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

export interface ThreadStore {
  find(id: string, owner?: string): Promise<ThreadRow | undefined>;
  findMany(ids: readonly string[]): Promise<ThreadRow[]>;
  /** Newest first. */
  page(filter: ThreadFilter, window: PageWindow): Promise<ThreadRow[]>;
  update(id: string, changes: ThreadChanges, updatedAt: Date): Promise<ThreadRow | undefined>;
  /** Deletes the thread with its messages, runs and events. */
  delete(id: string): Promise<void>;
  /** Token totals over each thread's runs. */
  usage(threadIds: readonly string[]): Promise<Map<string, Usage>>;
}

export interface MessageStore {
  find(id: string, owner?: string): Promise<MessageRow | undefined>;
  findMany(ids: readonly string[]): Promise<MessageRow[]>;
  /** Oldest first. */
  page(threadId: string, window: PageWindow): Promise<MessageRow[]>;
  byIdempotencyKey(threadId: string, key: string): Promise<MessageRow | undefined>;
  /** The thread's messages with pos < beforePos (all when null), newest first, at most `limit`. */
  newestFirst(threadId: string, beforePos: number | null, limit: number): Promise<MessageRow[]>;
  /** The assistant replies of these runs. */
  repliesOf(runIds: readonly string[]): Promise<MessageRow[]>;
  /** The user messages that started these runs. */
  startersOf(runIds: readonly string[]): Promise<MessageRow[]>;
  updateMetadata(id: string, metadata: Metadata): Promise<MessageRow | undefined>;
  delete(id: string): Promise<void>;
}

export interface RunStore {
  find(id: string, owner?: string): Promise<RunRow | undefined>;
  findMany(ids: readonly string[]): Promise<RunRow[]>;
  /** Oldest first. */
  page(threadId: string, window: PageWindow): Promise<RunRow[]>;
  /** The thread's active runs: the IN_PROGRESS (or REQUIRES_ACTION) one first, then the QUEUED ones in order. */
  active(threadId: string): Promise<RunRow[]>;
  nextQueued(threadId: string): Promise<RunRow | undefined>;
  withStatus(status: RunStatus): Promise<RunRow[]>;
  /** The owner's run created with this idempotency key (/v1 Idempotency-Key). */
  byIdempotencyKey(owner: string, key: string): Promise<RunRow | undefined>;
  updateMetadata(id: string, metadata: Metadata): Promise<RunRow | undefined>;
  /** Records a cancelRun on an active run (the durable fallback of the message to its executing instance). */
  requestCancel(runId: string, at: Date): Promise<void>;
  /** REQUIRES_ACTION runs whose deadline has passed (any instance may end them EXPIRED). */
  waitingPast(at: Date, limit: number): Promise<RunRow[]>;
  /** The run, its reply and its thread's lastEventSeq, read at one moment. */
  snapshot(runId: string): Promise<{ run: RunRow; reply: MessageRow | undefined; lastEventSeq: number } | undefined>;
}

export interface EventStore {
  /** Stored events with after < seq <= the thread's high-water mark (lastEventSeq), oldest first, at most `limit`. */
  readAfter(threadId: string, after: number, limit: number): Promise<ThreadEvent[]>;
  /** Deletes at most `batch` stored deltas of finished messages older than `before`; returns how many. */
  compactDeltas(before: Date, batch: number): Promise<number>;
}

export interface KeyStore {
  insert(row: Omit<ApiKeyRow, 'pos'>): Promise<ApiKeyRow>;
  list(): Promise<ApiKeyRow[]>;
  find(id: string): Promise<ApiKeyRow | undefined>;
  byHash(hash: string): Promise<ApiKeyRow | undefined>;
  revoke(id: string, at: Date): Promise<void>;
  any(): Promise<boolean>;
  revokedAmong(ids: readonly string[]): Promise<string[]>;
}

/**
 * The thread-row leases of executing runs (see services/events/event-log.ts). Expiry is judged by
 * the database's clock, never by an instance's, so clock skew between instances cannot matter.
 */
export interface LeaseStore {
  /**
   * Extends the leases `writer` still holds among `threadIds` to now + ttlMs; returns those it
   * holds (with their epochs) and the ids of their IN_PROGRESS runs that a cancelRun reached.
   */
  renew(writer: string, threadIds: readonly string[], ttlMs: number): Promise<{ held: { threadId: string; epoch: number }[]; cancelRequested: string[] }>;
  /** Threads whose writer's lease has expired (its instance died, froze or lost the database). */
  expired(limit: number): Promise<string[]>;
  /** Threads whose writer is `writer`, expired or not (a restarted instance reclaims its previous process's). */
  heldBy(writer: string): Promise<string[]>;
  /** Threads with no writer and a QUEUED run, oldest first: work for the dispatcher. */
  idleWithQueued(limit: number): Promise<string[]>;
}

/** A thread's sequencer and lease, read under its row lock (see ThreadRow's columns). */
export interface ThreadSeqState {
  /** The high-water mark: every seq <= hw is final. */
  hw: number;
  windowEnd: number;
  foreignSeq: number;
  writer: string | null;
  writerEpoch: number;
  /** The lease's expiry has passed, by the database's clock (false with no writer). */
  leaseExpired: boolean;
}

/**
 * The new sequencer and lease of a thread; `leaseMs`: lease_until = now + leaseMs, null clears
 * it, undefined keeps it. `touchedAt`: the thread's updatedAt (new messages), in the same statement.
 */
export interface ThreadSeqChanges {
  hw: number;
  windowEnd: number;
  foreignSeq: number;
  writer: string | null;
  writerEpoch: number;
  leaseMs?: number | null;
  touchedAt?: Date;
}

export type NewMessageRow = Omit<MessageRow, 'pos'>;
export type NewRunRow = Omit<RunRow, 'pos'>;
export type NewThreadRow = Omit<ThreadRow, 'pos'>;

/** Token counts a provider request reported; added to the run's. */
export interface UsageDelta {
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
}

/** How a run ends, as stored (usage is added to what earlier requests of the run reported). */
export interface RunEnd extends UsageDelta {
  status: Exclude<RunStatus, 'QUEUED' | 'IN_PROGRESS' | 'REQUIRES_ACTION'>;
  completedAt: Date;
  errorCode: string | null;
  errorMessage: string | null;
  incompleteReason: string | null;
}

export interface TransactionOptions {
  /**
   * On the way to a client's first token: committed as soon as its work is done, not held for a
   * turn of the event loop so that others share its COMMIT (SQLite's group commit; the
   * transactions that joined it meanwhile still commit with it). PostgreSQL commits each at once anyway.
   * The work may set it itself before it returns (when it turns out to start a run).
   */
  atOnce?: boolean;
}

/** The writes, available inside a transaction only. */
export interface StoreTx {
  insertThread(row: NewThreadRow): Promise<ThreadRow>;
  /**
   * A new thread with its first messages (stored in order) and its run, if any: what
   * insertThread, insertMessage and insertRun would store, in fewer statements (PostgreSQL:
   * the thread, the first message and the run in one).
   */
  insertThreadWith(thread: NewThreadRow, messages: readonly NewMessageRow[], run: NewRunRow | null): Promise<{ thread: ThreadRow; messages: MessageRow[]; run: RunRow | null }>;
  insertMessage(row: NewMessageRow): Promise<MessageRow>;
  appendMessageText(messageId: string, text: string): Promise<void>;
  setMessageStatus(messageId: string, status: MessageStatus, refusal?: string | null): Promise<MessageRow | undefined>;
  insertRun(row: NewRunRow): Promise<RunRow>;
  /**
   * QUEUED → IN_PROGRESS; null when the run is no longer QUEUED or its thread already has an
   * IN_PROGRESS run. Called with the thread's row locked (lockThread, or inserted by this
   * transaction): that lock orders racing starts.
   */
  startRun(runId: string, at: Date): Promise<RunRow | null>;
  /** Links the run to its reply (no row returned: the caller has both). */
  setRunReply(runId: string, messageId: string): Promise<void>;
  /** Ends the run if its status is one of `from`; null otherwise (the end was already stored). */
  endRun(runId: string, end: RunEnd, from: readonly RunStatus[]): Promise<RunRow | null>;
  /**
   * endRun, and its reply (if it has one) ends COMPLETED with a COMPLETED run, INCOMPLETE
   * otherwise, its refusal set: setMessageStatus's change, in one statement on PostgreSQL.
   * null: the end was already stored (nothing changed).
   */
  endRunWithReply(runId: string, end: RunEnd, from: readonly RunStatus[], refusal: string | null): Promise<{ run: RunRow; reply: MessageRow | undefined } | null>;
  /** IN_PROGRESS → REQUIRES_ACTION with its rounds (the last one waiting); null if it was not IN_PROGRESS. */
  requireAction(runId: string, rounds: ToolRound[], expiresAt: Date, usage: UsageDelta): Promise<RunRow | null>;
  /** REQUIRES_ACTION → IN_PROGRESS with the outputs in its rounds; null if it was not waiting. */
  resumeRun(runId: string, rounds: ToolRound[]): Promise<RunRow | null>;
  /**
   * Locks the thread's row for the rest of the transaction (PostgreSQL: FOR UPDATE; SQLite's
   * transactions are exclusive already) and reads its sequencer. undefined: no such thread;
   * 'locked' with skipLocked when another transaction holds it (the dispatcher moves on).
   */
  lockThread(threadId: string, options?: { skipLocked?: boolean }): Promise<ThreadSeqState | undefined | 'locked'>;
  setThreadSeqs(threadId: string, changes: ThreadSeqChanges): Promise<void>;
  insertEvents(events: readonly ThreadEvent[], at: Date): Promise<void>;
}

export type { TruncationStrategy, Metadata };
