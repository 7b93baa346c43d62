import { BadUserInputError, NotFoundError } from '../../errors.js';
import { paginate, type ConnectionArgs } from '../pagination.js';
import { parseInput, text } from '../validation.js';
import { StorageError } from '../../store/errors.js';
import type { MessageRow, RunRow, StoreTx, ToolRound } from '../../store/types.js';
import { LeaseLostError, ThreadLockedError } from '../events/event-log.js';
import { isTerminalRunStatus, type NewThreadEvent } from '../events/types.js';
import { executeRun, type AbortReason, type ExecuteDeps } from './execute.js';
import type { KnownRows } from './history.js';
import { StartTurns } from './start-turns.js';
import { watchRun } from './watch-run.js';
import { AS_EXECUTOR, finishRun, finishRunWithReply, markRunStarted, startRunInTx, storeToolCalls, storeToolOutputs, type LegOutcome } from './run-writes.js';

export interface RunEngineDeps extends ExecuteDeps {
  /** The model name used when neither input nor assistant names one; `offline` forces `offline`. */
  defaultModel: string;
  offline: boolean;
  /** How long a run waits in REQUIRES_ACTION before it ends EXPIRED. */
  toolOutputsTimeoutMs: number;
  /** The longest tool output accepted (MAX_CONTENT_CHARS). */
  maxOutputChars: number;
  /** The lease TTL: how long a run executing on a dead instance may take to be ended by another. */
  leaseTtlMs: number;
  /**
   * No other process creates runs in this database (SQLite: the server holds its file alone).
   * Then every QUEUED run is created here, after a canStartNow, and a run's end needs no read
   * for the thread's next run unless one may have been queued (see `mayHaveQueued`).
   */
  singleWriter?: boolean;
}

export interface ToolOutput {
  toolCallId: string;
  output: string;
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
/** How long a waiter gives a run leased here, but not executing yet, to be launched. */
const LAUNCH_GRACE_MS = 1000;

/**
 * The runs service: starts, queues, executes and cancels runs. Runs of one thread never
 * overlap (the database allows one IN_PROGRESS run per thread, and only the oldest QUEUED one
 * starts); its QUEUED runs start in order when it ends. Runs execute detached from the request
 * that created them. A run's thread stays busy until its end is stored: a refused final write
 * is retried with backoff, and waiters resolve when it lands.
 */
export class RunEngine {
  private readonly active = new Map<string, ActiveRun>();
  private readonly endWaiters = new Map<string, Array<(ended: RunEnded) => void>>();
  /** Threads being deleted: nothing new starts on them. */
  private readonly closing = new Set<string>();
  private accepting = true;
  private readonly stopped = new AbortController();
  /** Runs waiting for tool outputs, each with the timer that ends it EXPIRED. */
  private readonly expiries = new Map<string, NodeJS.Timeout>();

  /** A tool output is content: MAX_CONTENT_CHARS, counted like every other text. */
  private readonly outputRule;
  /** Requests that start runs go one per event-loop turn (start-turns.ts). */
  private readonly startTurns = new StartTurns();
  /**
   * singleWriter: threads that may have a QUEUED run created since their next run was last looked
   * for. A run is created QUEUED after a canStartNow: when that says no (the thread is busy), or
   * says yes and the database then refuses to start it (startInCommit answers null). Only the end
   * of an execution skips the read for a thread not in here; every other start path reads.
   */
  private readonly mayHaveQueued = new Set<string>();
  /** The thread the last canStartNow said yes for: its startInCommit comes next, in the same tick. */
  private askedToStart: string | null = null;
  /** A startInCommit without the canStartNow before it: from then on every end reads. */
  private queuedUntracked = false;

  constructor(readonly deps: RunEngineDeps) {
    this.outputRule = text(deps.maxOutputChars, { allowEmpty: true });
    // Another instance took the thread over (this one froze or lost the database): stop, write nothing.
    deps.events.onLeaseLost((threadId) => this.active.get(threadId)?.controller.abort('LEASE_LOST' satisfies AbortReason));
  }

  /** Aborts the run if it executes here (a cancelRun that reached another instance, a deleted thread). */
  abortLocal(match: { runId?: string; threadId?: string }, reason: AbortReason): void {
    for (const [threadId, a] of this.active) {
      if (a.runId === match.runId || threadId === match.threadId) a.controller.abort(reason);
    }
  }

  /** How long a wait for a run executing on another instance may last: its takeover included. */
  private get remoteWaitMs(): number {
    return this.deps.leaseTtlMs * 3 + 1000;
  }

  modelFor(inputModel: string | null, assistantModel: string | null | undefined): string {
    if (this.deps.offline) return 'offline';
    return inputModel ?? assistantModel ?? this.deps.defaultModel;
  }

  /**
   * A request about to start a run waits for its turn (undefined: it goes now), so that runs
   * already streaming publish their first tokens between two start-ups instead of after all of them.
   */
  startTurn(): Promise<void> | undefined {
    return this.startTurns.take();
  }

  /**
   * Whether a new run on this thread may start in the transaction that creates it. Asked by each
   * request that creates a run, right before it either leaves the run QUEUED (no) or calls
   * startInCommit (yes).
   */
  canStartNow(threadId: string): boolean {
    const yes = this.mayStartOn(threadId);
    if (yes) this.askedToStart = threadId;
    else this.noteMayHaveQueued(threadId);
    return yes;
  }

  /**
   * canStartNow for a run inserted already started (createThread: the thread is new in that
   * transaction, nothing can refuse it), so no startInCommit follows.
   */
  canStartInInsert(threadId: string): boolean {
    const yes = this.mayStartOn(threadId);
    if (!yes) this.noteMayHaveQueued(threadId);
    return yes;
  }

  private mayStartOn(threadId: string): boolean {
    return this.accepting && !this.active.has(threadId) && !this.closing.has(threadId);
  }

  isClosing(threadId: string): boolean {
    return this.closing.has(threadId);
  }

  /** False once shutdown began: new runs stay QUEUED for the next start-up. */
  isAccepting(): boolean {
    return this.accepting;
  }

  /**
   * Inside the commit that created a QUEUED run: starts it when the database agrees. The caller
   * launches it (`launch`) after the commit.
   */
  async startInCommit(tx: StoreTx, runId: string, events: NewThreadEvent[]): Promise<RunRow | null> {
    const threadId = this.askedToStart;
    this.askedToStart = null;
    if (threadId === null) {
      this.queuedUntracked = true;
      this.mayHaveQueued.clear();
    }
    const started = await startRunInTx(tx, runId, events);
    // Refused by the database (another run of the thread is in progress): it stays QUEUED.
    if (!started && threadId !== null) this.noteMayHaveQueued(threadId);
    return started;
  }

  /** Kept only while the hint is used (one writer, every start tracked): elsewhere it would only grow. */
  private noteMayHaveQueued(threadId: string): void {
    if (this.deps.singleWriter && !this.queuedUntracked) this.mayHaveQueued.add(threadId);
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
        const ended = (await executing.done) ?? (await store.runs.find(runId)) ?? run;
        // Its stream had already ended with tool calls: it now waits, and is cancelled as a waiting run.
        if (ended.status === 'REQUIRES_ACTION') continue;
        return ended;
      }
      if (run.status === 'QUEUED' || run.status === 'REQUIRES_ACTION') {
        const cancelled = await finishRun(events, run, { status: 'CANCELLED' }, [run.status]);
        if (cancelled) {
          this.settled(cancelled);
          return cancelled;
        }
      } else {
        const thread = await store.threads.find(run.threadId);
        // IN_PROGRESS, leased to no other instance: its end could not be stored here; the reaper (or next start-up) ends it.
        if (!thread?.writer || thread.writer === events.instanceId) return run;
        // It executes on another instance: the durable request first (its lease renewal reads it), then the fast message.
        await store.runs.requestCancel(run.id, new Date());
        events.pubsub.sendControl({ type: 'cancel-run', runId: run.id, threadId: run.threadId }).catch((err: unknown) => {
          this.deps.logger.warn({ err, runId: run.id }, 'could not send the cancel to the executing instance; its lease renewal will see it');
        });
        const ended = await this.watchRun(run, this.remoteWaitMs);
        if (ended?.status !== 'REQUIRES_ACTION') return ended ?? (await store.runs.find(runId)) ?? run;
      }
      // It started meanwhile (or now waits for tool outputs): cancel it as such.
    }
  }

  private watchRun(run: Pick<RunRow, 'id' | 'threadId'>, timeoutMs: number): Promise<RunRow | null> {
    return watchRun(this.deps, run, timeoutMs, this.stopped.signal);
  }

  /**
   * Resolves with the run once it has ended, or stopped to wait for tool outputs
   * (REQUIRES_ACTION: its client must act); null if neither will happen here (deleted, shutdown).
   */
  async waitForEnd(runId: string): Promise<RunRow | null> {
    return (await this.waitForEndWithReply(runId)).run;
  }

  /**
   * waitForEnd, with the run's reply when its end was stored here (the row that transaction
   * wrote; undefined otherwise: read it).
   */
  async waitForEndWithReply(runId: string): Promise<RunEnded> {
    const waiting = new Promise<RunEnded>((resolve) => {
      const waiters = this.endWaiters.get(runId) ?? [];
      waiters.push(resolve);
      this.endWaiters.set(runId, waiters);
    });
    // Executing here: its end notifies the waiters (launch removes it from `active` and notifies
    // in one step, so it has not ended yet); no read needed (every sendMessage with `reply` asks).
    if (this.isExecuting(runId)) return waiting;
    const run = await this.deps.store.runs.find(runId);
    if (!run || isTerminalRunStatus(run.status) || run.status === 'REQUIRES_ACTION') this.notifyEnded(runId, run ?? null);
    else if (!this.accepting && run.status === 'QUEUED') this.notifyEnded(runId, null);
    else if (!this.isExecuting(runId)) {
      const writer = run.status === 'IN_PROGRESS' ? (await this.deps.store.threads.find(run.threadId))?.writer : null;
      // IN_PROGRESS with no lease: its end could not be stored, and will not come from elsewhere.
      if (run.status === 'IN_PROGRESS' && !writer) this.notifyEnded(runId, null);
      // Leased to this instance but not executing: started a moment ago (launch follows the commit
      // that started it), or its end could not be stored. Its end, if it comes, settles the wait;
      // if nothing runs it after a short grace, nobody will.
      else if (run.status === 'IN_PROGRESS' && writer === this.deps.events.instanceId) {
        void this.watchRun(run, LAUNCH_GRACE_MS).then((row) => {
          if (row) this.notifyEnded(runId, row);
          else if (!this.isExecuting(runId)) this.notifyEnded(runId, null);
        });
      }
      // Executing on another instance, or queued (it may start on any): its end is watched for.
      else void this.watchRun(run, run.status === 'QUEUED' ? 2 ** 31 - 1 : this.remoteWaitMs).then((row) => row && this.notifyEnded(runId, row));
    }
    return waiting;
  }

  /** The thread's active runs end (CANCELLED) and nothing new starts on it while `work` runs. */
  async whileClosing<T>(threadId: string, work: () => Promise<T>): Promise<T> {
    this.closing.add(threadId);
    try {
      for (const run of (await this.deps.store.runs.active(threadId)).reverse()) await this.cancel(run.id);
      const result = await work();
      // Deleted: nothing of it is queued any more.
      this.mayHaveQueued.delete(threadId);
      return result;
    } finally {
      this.closing.delete(threadId);
    }
  }

  /** Runs that wait for tool outputs (start-up): each ends EXPIRED at its deadline. */
  resumeWaiting(runs: RunRow[]): void {
    for (const run of runs) this.scheduleExpiry(run);
  }

  /**
   * Hands a waiting run the outputs of its calls, all of them exactly once; the same run goes
   * on (a new provider request). The same submission retried returns the run unchanged.
   */
  async submitToolOutputs(owner: string, runId: string, outputs: ToolOutput[], prefix = 'input'): Promise<RunRow> {
    const run = await this.get(owner, runId);
    // A retry of a submission that moved it on: the last one, or an earlier round's while the
    // run already waits on a later round (call ids are unique, so a match is that submission).
    if (run.toolRounds.some((r) => sameOutputs(r, outputs))) return run;
    const round = run.toolRounds.at(-1);
    if (run.status !== 'REQUIRES_ACTION' || !round || round.submittedAt !== null) {
      throw new BadUserInputError(`${prefix}.runId`, `run "${runId}" is ${run.status}, not waiting for tool outputs`);
    }
    // The first index of each call id, so a repeat is reported where it repeats (not where it first came).
    const byId = new Map<string, number>();
    outputs.forEach((o, i) => byId.has(o.toolCallId) || byId.set(o.toolCallId, i));
    outputs.forEach((o, i) => {
      const field = `${prefix}.toolOutputs[${i}]`;
      if (!round.calls.some((c) => c.id === o.toolCallId)) throw new BadUserInputError(`${field}.toolCallId`, `"${o.toolCallId}" is not a call this run is waiting for`);
      if (byId.get(o.toolCallId) !== i) throw new BadUserInputError(`${field}.toolCallId`, `"${o.toolCallId}" is given more than once`);
      parseInput(this.outputRule, o.output, `${field}.output`);
    });
    const missing = round.calls.filter((c) => !byId.has(c.id)).map((c) => c.id);
    if (missing.length > 0) throw new BadUserInputError(`${prefix}.toolOutputs`, `has no output for ${missing.join(', ')}; every call needs exactly one`);

    const answered = { ...round, calls: round.calls.map((c) => ({ ...c, output: outputs[byId.get(c.id)!]!.output })), submittedAt: Date.now() };
    const resumed = await storeToolOutputs(this.deps.events, run, [...run.toolRounds.slice(0, -1), answered]);
    if (!resumed) {
      // Another submission (or a cancel, or the deadline) came first.
      const current = (await this.deps.store.runs.find(runId))!;
      const last = current.toolRounds.at(-1);
      if (last && last.submittedAt !== null && sameOutputs(last, outputs)) return current;
      throw new BadUserInputError(`${prefix}.runId`, `run "${runId}" is ${current.status}, not waiting for tool outputs`);
    }
    this.clearExpiry(runId);
    this.launch(resumed.threadId, resumed);
    return resumed;
  }

  /** Starts the QUEUED runs of the given threads (start-up recovery, the dispatcher). */
  resumeQueued(threadIds: Iterable<string>): void {
    for (const threadId of threadIds) {
      // Queued before this process knew (a restart): looked for again when the thread's current run ends, if it is busy now.
      this.noteMayHaveQueued(threadId);
      void this.startNext(threadId);
    }
  }

  /** A run another writer left was ended by the reaper here: waiters hear of it, the thread's next run may start. */
  reaped(run: RunRow): void {
    this.notifyEnded(run.id, run);
    void this.startNext(run.threadId);
  }

  /** A waiting run past its deadline (any instance may find it): it ends EXPIRED. */
  async expireOverdue(run: RunRow): Promise<void> {
    if (run.status !== 'REQUIRES_ACTION' || (run.expiresAt?.getTime() ?? 0) > Date.now()) return;
    const expired = await finishRun(this.deps.events, run, { status: 'EXPIRED' }, ['REQUIRES_ACTION']);
    if (expired) this.settled(expired);
  }

  /** Runs executing here, by thread (the reaper leaves them alone). */
  executingThreads(): Set<string> {
    return new Set(this.active.keys());
  }

  /**
   * Stops starting runs, lets executing ones finish for `graceMs`, then ends the rest with
   * SERVER_SHUTDOWN. QUEUED runs stay QUEUED: the next start-up runs them.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.accepting = false;
    // Waiting runs stay waiting: the next start-up schedules their deadlines again.
    for (const timer of this.expiries.values()) clearTimeout(timer);
    this.expiries.clear();
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
    // Replies awaited for QUEUED runs will not come from this process: another instance (or the next start-up) runs them.
    for (const runId of [...this.endWaiters.keys()]) this.notifyEnded(runId, null);
    await this.deps.events.pubsub.sendControl({ type: 'wake' }).catch(() => undefined);
  }

  /**
   * Executes a started run, detached; when its end is stored, the thread's next QUEUED run
   * starts. `known`: the rows the request that started it holds (see history.ts).
   */
  launch(threadId: string, started: RunRow, known?: KnownRows): void {
    const controller = new AbortController();
    let reply: MessageRow | undefined;
    const done = executeRun(this.deps, started, controller.signal, known)
      .then((outcome) => this.storeEnd(started, outcome, (stored) => (reply = stored)))
      .catch((err: unknown) => {
        this.deps.logger.error({ err, runId: started.id }, 'run could not be finished');
        return null;
      });
    this.active.set(threadId, { runId: started.id, controller, done });
    if (!this.accepting) controller.abort('SERVER_SHUTDOWN' satisfies AbortReason);
    void done.then((ended) => {
      this.active.delete(threadId);
      // The lease was lost: the instance that took the thread over ends the run; waiters hear of it from there.
      if (ended === null && controller.signal.reason === 'LEASE_LOST' && !this.stopped.signal.aborted) {
        void this.watchRun(started, this.remoteWaitMs).then((row) => this.notifyEnded(started.id, row));
        return;
      }
      // Waiters hear of it even when the end could not be stored (null): nobody waits forever.
      this.notifyEnded(started.id, ended, ended?.replyMessageId === reply?.id ? reply : undefined);
      if (ended?.status === 'REQUIRES_ACTION') this.scheduleExpiry(ended);
      else void this.startNext(threadId, { afterExecution: true });
    });
  }

  /**
   * Stores how the leg ended (the run's end, or its wait for tool outputs), retrying refused
   * writes with backoff; idempotent by the status it expects.
   */
  private async storeEnd(run: RunRow, outcome: LegOutcome, onReply: (reply: MessageRow | undefined) => void): Promise<RunRow | null> {
    // Let the last delta's socket write go out before the final transaction and its events.
    await new Promise((resolve) => setImmediate(resolve));
    const ended = await this.retrying(`store the end of run ${run.id}`, () =>
      outcome.status === 'REQUIRES_ACTION'
        ? storeToolCalls(this.deps.events, run, outcome, new Date(Date.now() + this.deps.toolOutputsTimeoutMs))
        : finishRunWithReply(this.deps.events, run, outcome, ['IN_PROGRESS'], AS_EXECUTOR).then((out) => {
            onReply(out?.reply);
            return out?.run ?? null;
          }),
    );
    if (ended === undefined) {
      // Refused for good (not a passing outage, not a lost lease): stop renewing the lease, so it
      // expires and the reaper ends the run FAILED and starts the thread's next run (LEASE_LOST
      // path in launch); renewed forever, the run would stay IN_PROGRESS for good.
      if (!this.stopped.signal.aborted) this.deps.events.abandonLease(run.threadId);
      return null;
    }
    return ended ?? (await this.deps.store.runs.find(run.id)) ?? null;
  }

  /**
   * Starts the thread's next QUEUED run here, if it is free. Instances race for it (the
   * dispatcher): a thread another one is writing to is skipped, not waited for.
   */
  private async startNext(threadId: string, options: { afterExecution?: boolean } = {}): Promise<void> {
    if (!this.mayStartOn(threadId)) return;
    if (this.deps.singleWriter && !this.queuedUntracked) {
      // Forgotten before the read: a run queued while it is under way is looked for next time.
      const mayHave = this.mayHaveQueued.delete(threadId);
      if (options.afterExecution && !mayHave) return;
    }
    let noneQueued = false;
    const started = await this.retrying(`start the next run of ${threadId}`, async () => {
      const next = await this.deps.store.runs.nextQueued(threadId);
      if (!next) {
        noneQueued = true;
        return null;
      }
      try {
        return await markRunStarted(this.deps.events, next, { skipLocked: true });
      } catch (err) {
        if (err instanceof ThreadLockedError || err instanceof NotFoundError) return null;
        throw err;
      }
    });
    // Unless none was queued: more may wait (behind the one started, or one not started now).
    if (!noneQueued) this.noteMayHaveQueued(threadId);
    // Started is started: launched even if a delete or shutdown began meanwhile, which then end it as usual.
    if (started) this.launch(threadId, started);
  }

  /** Runs `write` until the database takes it; undefined when the engine stopped first. */
  private async retrying<T>(what: string, write: () => Promise<T>): Promise<T | undefined> {
    let wait = RETRY_FIRST_MS;
    for (;;) {
      try {
        return await write();
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.deps.logger.warn({ threadId: err.threadId }, `could not ${what}: another instance took the thread over`);
          return undefined;
        }
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

  private isExecuting(runId: string): boolean {
    for (const a of this.active.values()) if (a.runId === runId) return true;
    return false;
  }

  /** A run that ended outside an execution (cancelled while queued or waiting, expired). */
  private settled(run: RunRow): void {
    this.clearExpiry(run.id);
    this.notifyEnded(run.id, run);
    void this.startNext(run.threadId);
  }

  private scheduleExpiry(run: RunRow): void {
    this.clearExpiry(run.id);
    if (!this.accepting) return;
    const delay = Math.max(0, (run.expiresAt?.getTime() ?? Date.now()) - Date.now());
    const timer = setTimeout(() => {
      this.expiries.delete(run.id);
      // Timers may fire a millisecond early by the wall clock: never end a run before its deadline.
      if ((run.expiresAt?.getTime() ?? 0) > Date.now()) return this.scheduleExpiry(run);
      const expire = async () => {
        // The row as it is now: a run that went on to another round has another deadline.
        const current = await this.deps.store.runs.find(run.id);
        if (current?.status !== 'REQUIRES_ACTION' || (current.expiresAt?.getTime() ?? 0) > Date.now()) return null;
        return finishRun(this.deps.events, current, { status: 'EXPIRED' }, ['REQUIRES_ACTION']);
      };
      void this.retrying(`expire run ${run.id}`, expire).then((expired) => {
        if (expired) this.settled(expired);
      });
    }, Math.min(delay, 2 ** 31 - 1));
    timer.unref();
    this.expiries.set(run.id, timer);
  }

  private clearExpiry(runId: string): void {
    const timer = this.expiries.get(runId);
    if (timer) clearTimeout(timer);
    this.expiries.delete(runId);
  }

  private notifyEnded(runId: string, result: RunRow | null, reply?: MessageRow): void {
    const waiters = this.endWaiters.get(runId);
    if (!waiters) return;
    this.endWaiters.delete(runId);
    for (const resolve of waiters) resolve({ run: result, reply });
  }
}

/** How a wait for a run's end ends: the run (null: it will not end here) and, when known, its reply as stored. */
export interface RunEnded {
  run: RunRow | null;
  reply?: MessageRow;
}

/** Whether a submission gives exactly these outputs to the round's calls (a retried submission). */
function sameOutputs(round: ToolRound, outputs: ToolOutput[]): boolean {
  if (round.submittedAt === null || outputs.length !== round.calls.length) return false;
  return round.calls.every((c) => outputs.some((o) => o.toolCallId === c.id && o.output === c.output));
}
