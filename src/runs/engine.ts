import { and, eq } from 'drizzle-orm';
import { newId } from '../db/ids.js';
import { activeRuns, findAssistant, findRun, findThread, nextQueuedRun } from '../db/lookups.js';
import { messages, threads, type Metadata, type MessageRow, type RunRow, type ThreadRow, type TruncationStrategy } from '../db/schema.js';
import { BadUserInputError, NotFoundError, ThreadBusyError } from '../errors.js';
import { isTerminalRunStatus } from '../events/types.js';
import { executeRun, type AbortReason, type ExecuteDeps } from './execute.js';
import { finishRun, markRunStarted, startRun } from './run-writes.js';
import type { Db } from '../db/client.js';
import type { NewThreadEvent } from '../events/types.js';
import { insertMessagesAndRun, insertThread, type NewMessage } from './thread-writes.js';

export type OnActiveRun = 'REJECT' | 'ENQUEUE' | 'INTERRUPT';

export interface CreateThreadInput {
  owner: string;
  assistantId: string | null;
  model: string | null;
  instructions: string | null;
  title: string | null;
  truncation: TruncationStrategy | null;
  metadata: Metadata;
  messages: NewMessage[];
}

export interface SendMessageInput {
  owner: string;
  threadId: string;
  content: string;
  idempotencyKey: string | null;
  model: string | null;
  instructions: string | null;
  metadata: Metadata;
  onActiveRun: OnActiveRun;
}

/** Called just before a new run is stored (not for idempotent repeats or refusals): rate limits. */
export type BeforeNewRun = () => void;

export interface RunEngineDeps extends ExecuteDeps {
  /** The model name used when neither input nor assistant names one; `offline` forces `offline`. */
  defaultModel: string;
  offline: boolean;
}

interface ActiveRun {
  runId: string;
  controller: AbortController;
  done: Promise<RunRow | null>;
}

/** After a run could not even be executed (the database refused a write), wait before the next. */
const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * Starts, queues and cancels runs. Runs of one thread never overlap: each thread has at most
 * one executing run, and its QUEUED runs start in order when it ends. Runs execute detached
 * from the request that created them. Knows nothing of GraphQL.
 */
export class RunEngine {
  private readonly active = new Map<string, ActiveRun>();
  private readonly endWaiters = new Map<string, Array<(run: RunRow | null) => void>>();
  /** Threads being deleted: nothing new starts on them. */
  private readonly closing = new Set<string>();
  private accepting = true;

  constructor(private readonly deps: RunEngineDeps) {}

  createThread(input: CreateThreadInput, beforeNewRun: BeforeNewRun = () => {}): { thread: ThreadRow; run: RunRow | null } {
    const { db, events } = this.deps;
    const assistant = findAssistant(db, input.assistantId, input.owner);
    if (input.assistantId !== null && !assistant) throw new NotFoundError('assistant', input.assistantId);
    const startsRun = input.messages.at(-1)?.role === 'USER';
    if (startsRun) beforeNewRun();
    const threadId = newId('Thread');
    const { run, started } = events.commit(threadId, (tx) => {
      const thread = insertThread(tx, {
        id: threadId,
        owner: input.owner,
        assistantId: input.assistantId,
        title: input.title,
        truncation: input.truncation,
        metadata: input.metadata,
      });
      const newRun = startsRun ? { model: this.modelFor(input.model, assistant?.model), instructions: input.instructions } : null;
      const out = insertMessagesAndRun(tx, thread, input.messages, newRun);
      const started = out.run && this.canStartNow(threadId) ? this.startInCommit(tx, out.run, out.events) : null;
      return { result: { run: out.run, started }, events: out.events };
    });
    if (started) this.launch(threadId, started);
    // Read back after the commit and the start: lastEventSeq and the run's status are current.
    return { thread: findThread(db, threadId)!, run: run ? findRun(db, run.id)! : null };
  }

  async sendMessage(input: SendMessageInput, beforeNewRun: BeforeNewRun = () => {}): Promise<{ message: MessageRow; run: RunRow }> {
    const { db, events } = this.deps;
    const thread = this.threadToSendTo(input);
    const repeated = this.findIdempotent(thread.id, input);
    if (repeated) return repeated;

    const active = activeRuns(db, thread.id);
    if (active.length > 0 && input.onActiveRun === 'REJECT') throw new ThreadBusyError(thread.id, active[0]!.id);
    if (active.length > 0 && input.onActiveRun === 'INTERRUPT') {
      await Promise.all(active.map((r) => this.cancel(r.id)));
      // While we waited the thread may have been deleted, or the same send may have arrived again.
      this.threadToSendTo(input);
      const sentMeanwhile = this.findIdempotent(thread.id, input);
      if (sentMeanwhile) return sentMeanwhile;
    }

    beforeNewRun();
    const assistant = findAssistant(db, thread.assistantId);
    const idle = this.canStartNow(thread.id) && activeRuns(db, thread.id).length === 0;
    const { message, run, started } = events.commit(thread.id, (tx) => {
      const userMessage = { role: 'USER' as const, content: input.content, metadata: input.metadata, idempotencyKey: input.idempotencyKey };
      const out = insertMessagesAndRun(tx, thread, [userMessage], { model: this.modelFor(input.model, assistant?.model), instructions: input.instructions });
      const started = idle ? this.startInCommit(tx, out.run!, out.events) : null;
      return { result: { message: out.messages[0]!, run: out.run!, started }, events: out.events };
    });
    if (started) this.launch(thread.id, started);
    return { message, run: started ?? run };
  }

  /**
   * Cancels a run: a QUEUED one at once; an executing one by aborting its provider request,
   * keeping the partial reply as INCOMPLETE. A finished run is returned unchanged.
   */
  async cancel(runId: string, owner?: string): Promise<RunRow> {
    const run = findRun(this.deps.db, runId, owner);
    if (!run) throw new NotFoundError('run', runId);
    if (isTerminalRunStatus(run.status)) return run;
    const executing = this.active.get(run.threadId);
    if (executing?.runId === run.id) {
      executing.controller.abort('CANCELLED' satisfies AbortReason);
      return (await executing.done) ?? findRun(this.deps.db, runId) ?? run;
    }
    const cancelled = finishRun(this.deps.events, run.id, run.threadId, { status: 'CANCELLED' });
    this.notifyEnded(cancelled.id, cancelled);
    return cancelled;
  }

  /** Resolves with the run once it has ended (null if it never will here: deleted, or shutdown). */
  waitForEnd(runId: string): Promise<RunRow | null> {
    const run = findRun(this.deps.db, runId);
    if (!run) return Promise.resolve(null);
    if (isTerminalRunStatus(run.status)) return Promise.resolve(run);
    return new Promise((resolve) => {
      const waiters = this.endWaiters.get(runId) ?? [];
      waiters.push(resolve);
      this.endWaiters.set(runId, waiters);
    });
  }

  /**
   * Deletes a thread with its messages, runs and events. Its runs end CANCELLED first and its
   * subscribers receive those terminal events before their streams end, so nobody waits forever.
   */
  async deleteThread(threadId: string, owner: string): Promise<void> {
    if (!findThread(this.deps.db, threadId, owner)) throw new NotFoundError('thread', threadId);
    this.closing.add(threadId);
    try {
      for (const run of activeRuns(this.deps.db, threadId).reverse()) await this.cancel(run.id);
      await this.deps.events.endStreams(1000, threadId);
      this.deps.events.forget(threadId);
      this.deps.db.delete(threads).where(eq(threads.id, threadId)).run();
      // A subscription opened while the delete waited is ended too (it can receive nothing more).
      await this.deps.events.endStreams(0, threadId);
    } finally {
      this.closing.delete(threadId);
    }
  }

  /** Starts the QUEUED runs of the given threads (start-up recovery). */
  resumeQueued(threadIds: Iterable<string>): void {
    for (const threadId of threadIds) this.startNext(threadId);
  }

  /**
   * Stops starting runs, lets executing ones finish for `graceMs`, then ends the rest with
   * SERVER_SHUTDOWN. QUEUED runs stay QUEUED: the next start-up runs them.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    const all = () => Promise.all([...this.active.values()].map((a) => a.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([all(), graceOver]);
    clearTimeout(timer);
    for (const a of this.active.values()) a.controller.abort('SERVER_SHUTDOWN' satisfies AbortReason);
    await all();
    this.deps.events.flushAll();
    // Replies awaited for QUEUED runs will not come from this process.
    for (const runId of [...this.endWaiters.keys()]) this.notifyEnded(runId, null);
    // Runs ended above sent their terminal events; now every subscription completes.
    await this.deps.events.endStreams(1000);
  }

  /** Whether a run of this thread may start now (the caller checks the stored queue). */
  private canStartNow(threadId: string): boolean {
    return this.accepting && !this.active.has(threadId) && !this.closing.has(threadId);
  }

  /**
   * Starts a run in the transaction that created it: one transaction fewer per run on an idle
   * thread. Its IN_PROGRESS event follows the QUEUED one in the same commit.
   */
  private startInCommit(tx: Db, run: RunRow, events: NewThreadEvent[]): RunRow {
    const started = startRun(tx, run.id);
    events.push({ kind: 'RUN_STATUS', run: started });
    return started;
  }

  /** Starts the thread's next QUEUED run, if it is free. */
  private startNext(threadId: string): void {
    if (!this.canStartNow(threadId)) return;
    const next = nextQueuedRun(this.deps.db, threadId);
    if (!next) return;
    let started: RunRow;
    try {
      started = markRunStarted(this.deps.events, next);
    } catch (err) {
      this.deps.logger.error({ err, runId: next.id }, 'run could not be started; retrying');
      setTimeout(() => this.startNext(threadId), RETRY_AFTER_FAILURE_MS).unref();
      return;
    }
    this.launch(threadId, started);
  }

  /** Executes a started run, detached; when it ends, the thread's next QUEUED run starts. */
  private launch(threadId: string, started: RunRow): void {
    const controller = new AbortController();
    const done = executeRun(this.deps, started, controller.signal).catch((err: unknown) => {
      this.deps.logger.error({ err, runId: started.id }, 'run could not be finished');
      return null;
    });
    this.active.set(threadId, { runId: started.id, controller, done });
    void done.then((ended) => {
      this.active.delete(threadId);
      if (ended) {
        this.notifyEnded(ended.id, ended);
        this.startNext(threadId);
      } else {
        // The database refused a write: try the queue again later rather than spin.
        setTimeout(() => this.startNext(threadId), RETRY_AFTER_FAILURE_MS).unref();
      }
    });
  }

  private notifyEnded(runId: string, result: RunRow | null): void {
    const waiters = this.endWaiters.get(runId);
    if (!waiters) return;
    this.endWaiters.delete(runId);
    for (const resolve of waiters) resolve(result);
  }

  private threadToSendTo(input: SendMessageInput): ThreadRow {
    const thread = findThread(this.deps.db, input.threadId, input.owner);
    if (!thread || this.closing.has(thread.id)) throw new NotFoundError('thread', input.threadId);
    return thread;
  }

  /** The message and run of an earlier send with the same idempotency key, if any. */
  private findIdempotent(threadId: string, input: SendMessageInput): { message: MessageRow; run: RunRow } | null {
    if (!input.idempotencyKey) return null;
    const original = this.deps.db
      .select()
      .from(messages)
      .where(and(eq(messages.threadId, threadId), eq(messages.idempotencyKey, input.idempotencyKey)))
      .get();
    if (!original) return null;
    if (original.content !== input.content) {
      throw new BadUserInputError(
        'idempotencyKey',
        'this key was already used on this thread with different content; use a new key for a new message',
      );
    }
    // A user message with a key always started a run, in the same transaction.
    return { message: original, run: findRun(this.deps.db, original.runId!)! };
  }

  private modelFor(inputModel: string | null, assistantModel: string | null | undefined): string {
    if (this.deps.offline) return 'offline';
    return inputModel ?? assistantModel ?? this.deps.defaultModel;
  }
}
