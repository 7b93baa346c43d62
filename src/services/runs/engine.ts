import { NotFoundError } from '../../errors.js';
import { paginate, type ConnectionArgs } from '../pagination.js';
import { StorageError } from '../../store/errors.js';
import type { RunRow, StoreTx } from '../../store/types.js';
import { isTerminalRunStatus, type NewThreadEvent } from '../events/types.js';
import { executeRun, type AbortReason, type ExecuteDeps } from './execute.js';
import { finishRun, markRunStarted, startRunInTx, type RunOutcome } from './run-writes.js';

export interface RunEngineDeps extends ExecuteDeps {
  /** The model name used when neither input nor assistant names one; `offline` forces `offline`. */
  defaultModel: string;
  offline: boolean;
}

interface ActiveRun {
  runId: string;
  controller: AbortController;
  /** Resolves once the run's end is stored. */
  done: Promise<RunRow | null>;
}

/** After a refused write, wait before trying again; the wait doubles up to the maximum. */
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5000;

/**
 * The runs service: starts, queues, executes and cancels runs. Runs of one thread never
 * overlap (the database allows one IN_PROGRESS run per thread, and only the oldest QUEUED one
 * starts); its QUEUED runs start in order when it ends. Runs execute detached from the request
 * that created them. A run's thread stays busy until its end is stored: a refused final write
 * is retried with backoff, and waiters resolve when it lands.
 */
export class RunEngine {
  private readonly active = new Map<string, ActiveRun>();
  private readonly endWaiters = new Map<string, Array<(run: RunRow | null) => void>>();
  /** Threads being deleted: nothing new starts on them. */
  private readonly closing = new Set<string>();
  private accepting = true;
  private readonly stopped = new AbortController();

  constructor(readonly deps: RunEngineDeps) {}

  modelFor(inputModel: string | null, assistantModel: string | null | undefined): string {
    if (this.deps.offline) return 'offline';
    return inputModel ?? assistantModel ?? this.deps.defaultModel;
  }

  /** Whether a new run on this thread may start in the transaction that creates it. */
  canStartNow(threadId: string): boolean {
    return this.accepting && !this.active.has(threadId) && !this.closing.has(threadId);
  }

  isClosing(threadId: string): boolean {
    return this.closing.has(threadId);
  }

  /**
   * Inside the commit that created a QUEUED run: starts it when the database agrees. The caller
   * launches it (`launch`) after the commit.
   */
  async startInCommit(tx: StoreTx, runId: string, events: NewThreadEvent[]): Promise<RunRow | null> {
    return startRunInTx(tx, runId, events);
  }

  async get(owner: string, runId: string): Promise<RunRow> {
    const row = await this.deps.store.runs.find(runId, owner);
    if (!row) throw new NotFoundError('run', runId);
    return row;
  }

  async find(owner: string, runId: string): Promise<RunRow | null> {
    return (await this.deps.store.runs.find(runId, owner)) ?? null;
  }

  /** A thread's runs, oldest first. */
  list(threadId: string, args: ConnectionArgs) {
    return paginate(args, (w) => this.deps.store.runs.page(threadId, w));
  }

  /** The thread's active runs: the IN_PROGRESS one first, then the QUEUED ones in order. */
  activeRuns(threadId: string): Promise<RunRow[]> {
    return this.deps.store.runs.active(threadId);
  }

  /**
   * Cancels a run: a QUEUED one at once; an executing one by aborting its provider request,
   * keeping the partial reply as INCOMPLETE. A finished run is returned unchanged.
   */
  async cancel(runId: string, owner?: string): Promise<RunRow> {
    const { store, events } = this.deps;
    for (;;) {
      const run = await store.runs.find(runId, owner);
      if (!run) throw new NotFoundError('run', runId);
      if (isTerminalRunStatus(run.status)) return run;
      const executing = this.active.get(run.threadId);
      if (executing?.runId === run.id) {
        executing.controller.abort('CANCELLED' satisfies AbortReason);
        return (await executing.done) ?? (await store.runs.find(runId)) ?? run;
      }
      if (run.status === 'QUEUED') {
        const cancelled = await finishRun(events, run, { status: 'CANCELLED' }, ['QUEUED']);
        if (cancelled) {
          this.notifyEnded(cancelled.id, cancelled);
          return cancelled;
        }
      } else {
        // IN_PROGRESS but not executing here: its end is being stored (or the next start-up ends it).
        return (await this.waitForEnd(run.id)) ?? run;
      }
      // It started meanwhile: cancel it as an executing run.
    }
  }

  /** Resolves with the run once it has ended (null if it never will here: deleted, or shutdown). */
  async waitForEnd(runId: string): Promise<RunRow | null> {
    const waiting = new Promise<RunRow | null>((resolve) => {
      const waiters = this.endWaiters.get(runId) ?? [];
      waiters.push(resolve);
      this.endWaiters.set(runId, waiters);
    });
    const run = await this.deps.store.runs.find(runId);
    if (!run || isTerminalRunStatus(run.status)) this.notifyEnded(runId, run ?? null);
    if (!this.accepting && run?.status === 'QUEUED') this.notifyEnded(runId, null);
    return waiting;
  }

  /** The thread's active runs end (CANCELLED) and nothing new starts on it while `work` runs. */
  async whileClosing<T>(threadId: string, work: () => Promise<T>): Promise<T> {
    this.closing.add(threadId);
    try {
      for (const run of (await this.deps.store.runs.active(threadId)).reverse()) await this.cancel(run.id);
      return await work();
    } finally {
      this.closing.delete(threadId);
    }
  }

  /** Starts the QUEUED runs of the given threads (start-up recovery). */
  resumeQueued(threadIds: Iterable<string>): void {
    for (const threadId of threadIds) void this.startNext(threadId);
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
    // A final write the database keeps refusing is given up after a while: the next start-up ends the run.
    const giveUp = setTimeout(() => this.stopped.abort(), Math.max(1000, RETRY_MAX_MS)).unref();
    await all();
    clearTimeout(giveUp);
    this.stopped.abort();
    // Replies awaited for QUEUED runs will not come from this process.
    for (const runId of [...this.endWaiters.keys()]) this.notifyEnded(runId, null);
  }

  /** Executes a started run, detached; when its end is stored, the thread's next QUEUED run starts. */
  launch(threadId: string, started: RunRow): void {
    const controller = new AbortController();
    const done = executeRun(this.deps, started, controller.signal)
      .then((outcome) => this.storeEnd(started, outcome))
      .catch((err: unknown) => {
        this.deps.logger.error({ err, runId: started.id }, 'run could not be finished');
        return null;
      });
    this.active.set(threadId, { runId: started.id, controller, done });
    void done.then((ended) => {
      this.active.delete(threadId);
      // Waiters hear of it even when the end could not be stored (null): nobody waits forever.
      this.notifyEnded(started.id, ended);
      void this.startNext(threadId);
    });
  }

  /** Stores the run's end, retrying refused writes with backoff; idempotent by the status it expects. */
  private async storeEnd(run: RunRow, outcome: RunOutcome): Promise<RunRow | null> {
    // Let the last delta's socket write go out before the final transaction and its events.
    await new Promise((resolve) => setImmediate(resolve));
    const ended = await this.retrying(`store the end of run ${run.id}`, () => finishRun(this.deps.events, run, outcome, ['IN_PROGRESS']));
    if (ended === undefined) return null;
    return ended ?? (await this.deps.store.runs.find(run.id)) ?? null;
  }

  /** Starts the thread's next QUEUED run, if it is free. */
  private async startNext(threadId: string): Promise<void> {
    if (!this.canStartNow(threadId)) return;
    const started = await this.retrying(`start the next run of ${threadId}`, async () => {
      const next = await this.deps.store.runs.nextQueued(threadId);
      return next ? markRunStarted(this.deps.events, next) : null;
    });
    if (started && this.canStartNow(threadId)) this.launch(threadId, started);
  }

  /** Runs `write` until the database takes it; undefined when the engine stopped first. */
  private async retrying<T>(what: string, write: () => Promise<T>): Promise<T | undefined> {
    let wait = RETRY_FIRST_MS;
    for (;;) {
      try {
        return await write();
      } catch (err) {
        if (!(err instanceof StorageError) || this.stopped.signal.aborted) {
          this.deps.logger.error({ err }, `could not ${what}`);
          return undefined;
        }
        this.deps.logger.warn({ err, retryInMs: wait }, `could not ${what}; retrying`);
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(RETRY_MAX_MS, wait * 2);
      }
    }
  }

  private notifyEnded(runId: string, result: RunRow | null): void {
    const waiters = this.endWaiters.get(runId);
    if (!waiters) return;
    this.endWaiters.delete(runId);
    for (const resolve of waiters) resolve(result);
  }
}
