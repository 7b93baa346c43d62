import { and, eq } from 'drizzle-orm';
import { messages, runs, threads, type Metadata, type TruncationStrategy, type MessageRow, type RunRow, type ThreadRow } from '../db/schema.js';
import { isTerminalRunStatus } from '../events/types.js';
import { BadUserInputError, NotFoundError, ThreadBusyError } from '../errors.js';
import { executeRun, type AbortReason, type ExecuteDeps } from './execute.js';
import { findAssistant, findRun, findThread } from '../db/lookups.js';
import { insertMessagesAndRun, insertThread, pendingRuns, type NewMessage } from './send.js';
import { finishRun } from './run-writes.js';
import { newId } from '../db/ids.js';

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

  createThread(input: CreateThreadInput): { thread: ThreadRow; run: RunRow | null } {
    const assistant = findAssistant(this.deps.db, input.assistantId, input.owner);
    if (input.assistantId && !assistant) throw new NotFoundError('assistant', input.assistantId);
    const startsRun = input.messages.at(-1)?.role === 'USER';
    const threadId = newId('Thread');
    const { thread, run } = this.deps.events.commit(threadId, (db) => {
      const thread = insertThread(db, {
        id: threadId,
        owner: input.owner,
        assistantId: input.assistantId,
        title: input.title,
        truncation: input.truncation,
        metadata: input.metadata,
      });
      const out = insertMessagesAndRun(
        db,
        thread,
        input.messages,
        startsRun ? { model: this.modelFor(input.model, assistant?.model), instructions: input.instructions } : null,
      );
      return { result: { thread, run: out.run }, events: out.events };
    });
    if (run) this.startNext(thread.id);
    return { thread, run };
  }

  async sendMessage(input: SendMessageInput): Promise<{ message: MessageRow; run: RunRow }> {
    const { db } = this.deps;
    const thread = findThread(db, input.threadId, input.owner);
    if (!thread || this.closing.has(thread.id)) throw new NotFoundError('thread', input.threadId);

    const repeated = this.findIdempotent(thread.id, input);
    if (repeated) return repeated;

    const pending = pendingRuns(db, thread.id);
    if (pending.length > 0) {
      if (input.onActiveRun === 'REJECT') throw new ThreadBusyError(thread.id, pending[0]!.id);
      if (input.onActiveRun === 'INTERRUPT') {
        await Promise.all(pending.map((r) => this.cancel(r.id)));
        // Another request may have sent in the meantime; the key must still be honoured.
        const sentMeanwhile = this.findIdempotent(thread.id, input);
        if (sentMeanwhile) return sentMeanwhile;
      }
    }

    const assistant = findAssistant(db, thread.assistantId);
    const { messages: sent, run } = this.deps.events.commit(thread.id, (tx) => {
      const out = insertMessagesAndRun(
        tx,
        thread,
        [{ role: 'USER', content: input.content, metadata: input.metadata, idempotencyKey: input.idempotencyKey }],
        { model: this.modelFor(input.model, assistant?.model), instructions: input.instructions },
      );
      return { result: out, events: out.events };
    });
    this.startNext(thread.id);
    return { message: sent[0]!, run: run! };
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
      return (await executing.done) ?? run;
    }
    const cancelled = finishRun(this.deps.events, run.id, run.threadId, { status: 'CANCELLED' });
    this.notifyEnded(cancelled);
    return cancelled;
  }

  /** Resolves with the run once it has ended (null if its thread was deleted first). */
  waitForEnd(runId: string): Promise<RunRow | null> {
    const run = this.deps.db.select().from(runs).where(eq(runs.id, runId)).get();
    if (!run) return Promise.resolve(null);
    if (isTerminalRunStatus(run.status)) return Promise.resolve(run);
    return new Promise((resolve) => {
      const waiters = this.endWaiters.get(runId) ?? [];
      waiters.push(resolve);
      this.endWaiters.set(runId, waiters);
    });
  }

  /** Deletes a thread with its messages, runs and events, after stopping its runs. */
  async deleteThread(threadId: string): Promise<boolean> {
    const { db } = this.deps;
    if (!db.select({ id: threads.id }).from(threads).where(eq(threads.id, threadId)).get()) return false;
    this.closing.add(threadId);
    try {
      const executing = this.active.get(threadId);
      if (executing) {
        executing.controller.abort('CANCELLED' satisfies AbortReason);
        await executing.done;
      }
      const orphaned = pendingRuns(db, threadId);
      this.deps.events.forget(threadId);
      db.delete(threads).where(eq(threads.id, threadId)).run();
      for (const run of orphaned) this.notifyEnded({ ...run }, null);
      return true;
    } finally {
      this.closing.delete(threadId);
    }
  }

  /** Runs executing now (across threads). */
  executingCount(): number {
    return this.active.size;
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
    // Runs ended above sent their terminal events; now every subscription completes.
    await this.deps.events.endStreams(1000);
  }

  private startNext(threadId: string): void {
    if (!this.accepting || this.active.has(threadId) || this.closing.has(threadId)) return;
    const next = pendingRuns(this.deps.db, threadId)[0];
    if (!next) return;
    const controller = new AbortController();
    const done = executeRun(this.deps, next, controller.signal).then(
      (ended) => ended,
      (err: unknown) => {
        this.deps.logger.error({ err, runId: next.id }, 'run could not be executed');
        return null;
      },
    );
    this.active.set(threadId, { runId: next.id, controller, done });
    void done.then((ended) => {
      this.active.delete(threadId);
      this.notifyEnded(ended ?? next, ended);
      this.startNext(threadId);
    });
  }

  private notifyEnded(run: RunRow, result: RunRow | null = run): void {
    const waiters = this.endWaiters.get(run.id);
    if (!waiters) return;
    this.endWaiters.delete(run.id);
    for (const resolve of waiters) resolve(result);
  }

  private findIdempotent(threadId: string, input: SendMessageInput): { message: MessageRow; run: RunRow } | null {
    if (!input.idempotencyKey) return null;
    const { db } = this.deps;
    const original = db
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
    const run = original.runId ? db.select().from(runs).where(eq(runs.id, original.runId)).get() : undefined;
    if (!run) throw new NotFoundError('run', original.runId ?? '');
    return { message: original, run };
  }

  private modelFor(inputModel: string | null, assistantModel: string | null | undefined): string {
    if (this.deps.offline) return 'offline';
    return inputModel ?? assistantModel ?? this.deps.defaultModel;
  }
}
