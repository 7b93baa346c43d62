import { performance } from 'node:perf_hooks';
import { NotFoundError } from '../../errors.js';
import { CommitUnknownError, StorageError } from '../../store/errors.js';
import type { Store, StoreTx, ThreadSeqState } from '../../store/types.js';
import type { PubSub, Subscription, ThreadListener } from './pubsub.js';
import { planSeqs, WINDOW_SEQS, type SeqPlan } from './seq-window.js';
import { ThreadSeqs, type Lease, type ThreadState } from './thread-seqs.js';
import type { MessageDeltaEvent, NewThreadEvent, ThreadEvent } from './types.js';

export interface EventLogOptions {
  intervalMs: number;
  maxChars: number;
  /** A flush that failed (it is retried, with backoff). */
  onFlushError: (error: unknown, threadIds: string[]) => void;
  /** This instance's id: the writer named in the rows of the threads whose runs it executes. */
  instanceId: string;
  leaseTtlMs: number;
}

/** What a write inside `commit` returns: its result, its events, and what it does to the lease. */
export interface CommitOutput<T> {
  result: T;
  events: NewThreadEvent[];
  /** A run started here: this instance becomes the thread's writer. */
  acquire?: boolean;
  /** The writer's lease had expired: its window is closed and the lease cleared (the reaper). */
  takeover?: boolean;
  /** New messages were written: the thread's updatedAt, set with its seqs. */
  touchedAt?: Date;
}

export interface CommitOptions {
  /** A write of the run this instance executes: it lands only while the lease is still ours. */
  asWriter?: boolean;
  /** With asWriter: the run ends or waits, the lease is given up in the same transaction. */
  release?: boolean;
  /** The write creates the thread (no row to lock yet). */
  creating?: boolean;
  /** Do not wait for another instance's transaction on the thread: ThreadLockedError instead. */
  skipLocked?: boolean;
  /** On the way to a client's first token: committed as soon as it is written (TransactionOptions). */
  atOnce?: boolean;
}

/** The thread is no longer leased to this instance (taken over, or deleted): the run stops, writing nothing. */
export class LeaseLostError extends Error {
  constructor(readonly threadId: string) {
    super(`the lease on thread ${threadId} was lost: another instance took its run over, or the thread was deleted`);
    this.name = 'LeaseLostError';
  }
}

/** Another transaction holds the thread (skipLocked). */
export class ThreadLockedError extends Error {
  constructor(readonly threadId: string) {
    super(`thread ${threadId} is locked by another transaction`);
    this.name = 'ThreadLockedError';
  }
}

/** Flush when this many deltas of one thread wait. */
const FLUSH_AT_DELTAS = 128;
/** Threads stored in one flush transaction (about a millisecond or two of SQLite work). */
const FLUSH_THREADS_PER_TX = 24;
const MAX_FLUSH_BACKOFF_MS = 5000;
/** A lease not confirmed by the database for this share of its TTL stops publishing (self-fence). */
const SELF_FENCE_SHARE = 0.6;

/**
 * The per-thread event log: allocates `seq` from the thread row (seq-window.ts), stores events,
 * publishes them live. Status changes and message snapshots are stored in the transaction of
 * the change they describe, then published. Streamed text (deltas) of the run this instance
 * executes is published at once inside its window and stored in batches (by time or size, one
 * transaction for all threads) with the message content it appends: never one per token.
 * While a thread's transaction is open, new deltas wait for it, so stored order is publish
 * order; a full window holds the run back (it stops reading its provider) until a store lands.
 * Every write of the writer is fenced by its lease's epoch.
 */
export class EventLog {
  private readonly seqs = new ThreadSeqs();
  private flushTimer: NodeJS.Timeout | null = null;
  /** When the scheduled timed flush runs (epoch ms). */
  private flushAt = 0;
  private readonly leaseLost = new Set<(threadId: string) => void>();
  private readonly watchdog: NodeJS.Timeout;
  private readonly selfFenceMs: number;

  constructor(
    private readonly store: Store,
    readonly pubsub: PubSub,
    private readonly options: EventLogOptions,
  ) {
    this.selfFenceMs = options.leaseTtlMs * SELF_FENCE_SHARE;
    this.watchdog = setInterval(() => this.checkStale(), Math.max(50, this.selfFenceMs / 4));
    this.watchdog.unref();
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /**
   * Runs `write` and stores the events it returns in one transaction (after the thread's
   * pending deltas, under the thread's row lock), then publishes them. Returns `write`'s result.
   */
  async commit<T>(threadId: string, write: (tx: StoreTx, seqs: ThreadSeqState | undefined) => Promise<CommitOutput<T>>, options: CommitOptions = {}): Promise<T> {
    return this.seqs.exclusive(threadId, async (state) => {
      state.allocating = true;
      const batch = state.takePending();
      // When the lease's new expiry was written (the database counts the TTL from that statement).
      let leasedAt = 0;
      let fenced = false;
      try {
        let committed: { result: T; stored: ThreadEvent[]; plan: SeqPlan; hwBefore: number; foreign: boolean };
        try {
          // A commit that starts a run is on the way to its first token, as the reply's row is.
          const txOptions = { atOnce: options.atOnce === true };
          committed = await this.store.transaction(async (tx) => {
            // A thread being created has no row to lock yet (its insert locks it).
            const locked = options.creating ? undefined : await tx.lockThread(threadId, { skipLocked: options.skipLocked });
            if (locked === 'locked') throw new ThreadLockedError(threadId);
            if (!locked && !options.creating) throw new NotFoundError('thread', threadId);
            const lease = this.heldLease(state, locked);
            fenced = state.lease !== null && !lease;
            if (options.asWriter && !lease) throw new LeaseLostError(threadId);
            // The deltas' text first (the write may end their message); their rows go with the write's events.
            if (lease) await appendDeltaText(tx, batch);
            const out = await write(tx, locked);
            if (out.acquire) txOptions.atOnce = true;
            const row = locked ?? (await tx.lockThread(threadId));
            if (!row || row === 'locked') throw new NotFoundError('thread', threadId);
            const plan = planSeqs(row, lease, this.instanceId, this.options.leaseTtlMs, {
              count: out.events.length,
              acquire: out.acquire,
              takeover: out.takeover,
              release: lease !== undefined && options.release,
            });
            const stored = out.events.map((e, i) => ({ ...e, seq: plan.first + i, threadId }) as ThreadEvent);
            const rows: ThreadEvent[] = lease && batch.length > 0 ? [...batch, ...stored] : stored;
            if (rows.length > 0) await tx.insertEvents(rows, new Date());
            leasedAt = performance.now();
            await tx.setThreadSeqs(threadId, out.touchedAt ? { ...plan.changes, touchedAt: out.touchedAt } : plan.changes);
            const foreign = !lease && row.writer !== null && !out.takeover && stored.length > 0;
            return { result: out.result, stored, plan, hwBefore: row.hw, foreign };
          }, txOptions);
        } catch (error) {
          // Only a transaction that did not commit gives its deltas back; stored ones are never stored twice.
          // One that may have committed is treated like being fenced: its seqs are never published again.
          if (fenced || error instanceof CommitUnknownError) this.loseLease(state);
          else state.restorePending(batch);
          throw error;
        }
        if (fenced) this.loseLease(state);
        else markStored(state, batch);
        this.applyPlan(state, committed.plan, leasedAt);
        const last = committed.stored.at(-1)?.seq;
        if (last !== undefined) state.lastSeq = Math.max(state.lastSeq ?? 0, last);
        for (const event of committed.stored) this.pubsub.publish(event);
        if (committed.plan.changes.hw > committed.hwBefore) this.pubsub.publishStored(threadId, committed.plan.changes.hw);
        // Written above another instance's window: readers see it once that writer stores again; ask it to now.
        if (committed.foreign) this.pubsub.sendControl({ type: 'flush', threadId }).catch(() => undefined);
        return committed.result;
      } finally {
        state.allocating = false;
        this.pump(state);
      }
    });
  }

  /**
   * Publishes streamed text of the run this instance executes: now, or once the thread's open
   * transaction ends or its window has room (the promise; the run waits for it, reading no
   * more of its provider). Stored with the next flush. Throws (or rejects) StorageError when
   * the window is full and stores are refused, or the lease went unconfirmed too long;
   * LeaseLostError when the lease is gone.
   */
  appendDelta(threadId: string, runId: string, messageId: string, delta: string): Promise<void> | undefined {
    const state = this.seqs.get(threadId);
    const lease = state.lease;
    if (!lease) throw new LeaseLostError(threadId);
    if (this.isStale(lease)) throw this.staleError();
    if (!state.allocating && state.held.length === 0 && lease.next <= lease.windowEnd) {
      this.emit(state, lease, runId, messageId, delta);
      return undefined;
    }
    if (lease.next > lease.windowEnd && state.flushFailures > 0) {
      this.flushWithin(state.retryAt - Date.now());
      throw windowFullError();
    }
    return new Promise<void>((resolve, reject) => {
      state.held.push({ runId, messageId, delta, resolve, reject });
      this.pump(state);
    });
  }

  /** The highest seq published on the thread by this process (null: none yet). */
  lastPublishedSeq(threadId: string): number | null {
    return this.seqs.peek(threadId)?.lastSeq ?? null;
  }

  /** Published deltas not yet stored (pending or being stored), oldest first: replays add them after the stored events. */
  unstored(threadId: string): MessageDeltaEvent[] {
    return this.seqs.peek(threadId)?.unstored() ?? [];
  }

  /** The leases this instance holds (renewal). */
  heldLeases(): { threadId: string; epoch: number }[] {
    return this.seqs
      .all()
      .filter((s) => s.lease)
      .map((s) => ({ threadId: s.threadId, epoch: s.lease!.epoch }));
  }

  /** The database renewed the lease (a renewal that started at `startedAt`, monotonic ms). */
  confirmLease(threadId: string, epoch: number, startedAt: number): void {
    const lease = this.seqs.peek(threadId)?.lease;
    if (lease && lease.epoch === epoch) lease.confirmedAt = Math.max(lease.confirmedAt, startedAt);
  }

  /** The database says the lease is no longer ours (a renewal did not find it). */
  dropLease(threadId: string, epoch: number): void {
    const state = this.seqs.peek(threadId);
    if (state?.lease?.epoch === epoch) this.loseLease(state);
  }

  /**
   * This instance gives the lease up without a write (its run's end could not be stored): it is
   * no longer renewed, so it expires and the reaper (of any instance) ends the run FAILED.
   */
  abandonLease(threadId: string): void {
    const state = this.seqs.peek(threadId);
    if (state?.lease) this.loseLease(state);
  }

  /** Called with the thread whose lease this instance lost: its run must stop. */
  onLeaseLost(handler: (threadId: string) => void): () => void {
    this.leaseLost.add(handler);
    return () => this.leaseLost.delete(handler);
  }

  /** Stores the thread's pending deltas now. */
  async flush(threadId: string): Promise<void> {
    if (!this.seqs.peek(threadId)?.hasPending()) return;
    await this.seqs.exclusive(threadId, (state) => this.storeBatches([state]));
  }

  /**
   * Another instance wrote above this writer's window (a queued run, say): store now, pending
   * deltas or not, so that HW moves past its events and readers see them without waiting for
   * this run's next delta.
   */
  async storeForeign(threadId: string): Promise<void> {
    if (!this.seqs.peek(threadId)?.lease) return;
    await this.seqs.exclusive(threadId, (state) => this.storeBatches([state], true));
  }

  /**
   * Stores every thread's pending deltas: one transaction, or one per thread if that fails.
   * `all` false (the timer): threads backing off after refused flushes wait for their turn.
   */
  async flushAll(all = true): Promise<void> {
    const now = Date.now();
    const ready = this.seqs.withPending().filter((s) => !s.busy && (all || s.retryAt <= now));
    if (ready.length === 0) return;
    await this.seqs.exclusiveAll(ready, (held) => this.storeBatches(held));
  }

  /** Drops what is known of a deleted thread. */
  forget(threadId: string): void {
    const state = this.seqs.peek(threadId);
    if (state) rejectHeld(state, new LeaseLostError(threadId));
    this.seqs.delete(threadId);
  }

  /** Subscribes to the thread's live events; returns the function that unsubscribes. */
  subscribe(threadId: string, listener: ThreadListener): Subscription {
    return this.pubsub.subscribe(threadId, listener);
  }

  readStored(threadId: string, after: number, limit: number): Promise<ThreadEvent[]> {
    return this.store.events.readAfter(threadId, after, limit);
  }

  stop(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    clearInterval(this.watchdog);
  }

  private heldLease(state: ThreadState, row: ThreadSeqState | undefined): Lease | undefined {
    const lease = state.lease;
    return lease && row && row.writer === this.instanceId && row.writerEpoch === lease.epoch ? lease : undefined;
  }

  private applyPlan(state: ThreadState, plan: SeqPlan, leasedAt: number): void {
    if (plan.lease === null) state.lease = null;
    else if (plan.lease) state.lease = { ...plan.lease, confirmedAt: leasedAt };
  }

  private loseLease(state: ThreadState): void {
    const had = state.lease !== null;
    state.lease = null;
    state.dropUnstored();
    rejectHeld(state, new LeaseLostError(state.threadId));
    if (had) for (const handler of this.leaseLost) handler(state.threadId);
  }

  private isStale(lease: Lease): boolean {
    return performance.now() - lease.confirmedAt > this.selfFenceMs;
  }

  private staleError(): StorageError {
    return new StorageError(`no write reached the database for ${Math.round(this.selfFenceMs)} ms: the run stops publishing before its lease can lapse`);
  }

  /** Deltas waiting on a lease the database has not confirmed for too long are refused (self-fence). */
  private checkStale(): void {
    for (const state of this.seqs.all()) {
      if (state.lease && state.held.length > 0 && this.isStale(state.lease)) rejectHeld(state, this.staleError());
    }
  }

  /** Gives waiting deltas their seqs while the thread is free and its window has room. */
  private pump(state: ThreadState): void {
    while (state.held.length > 0 && !state.allocating) {
      const lease = state.lease;
      if (!lease) return rejectHeld(state, new LeaseLostError(state.threadId));
      if (this.isStale(lease)) return rejectHeld(state, this.staleError());
      if (lease.next > lease.windowEnd) {
        if (state.flushFailures > 0) return rejectHeld(state, windowFullError());
        return this.flushThreadNow(state);
      }
      const held = state.held.shift()!;
      this.emit(state, lease, held.runId, held.messageId, held.delta);
      held.resolve();
    }
  }

  private emit(state: ThreadState, lease: Lease, runId: string, messageId: string, delta: string): void {
    const event: MessageDeltaEvent = { kind: 'MESSAGE_DELTA', seq: lease.next++, threadId: state.threadId, runId, messageId, delta };
    state.lastSeq = event.seq;
    state.addPending(event);
    this.pubsub.publish(event);
    if (state.pendingChars >= this.options.maxChars || state.pendingCount() >= FLUSH_AT_DELTAS || lease.next > lease.windowEnd) this.flushThreadNow(state);
    else this.flushWithin(this.options.intervalMs);
  }

  /**
   * Stores the threads' pending deltas, FLUSH_THREADS_PER_TX threads per transaction, the event
   * loop turning between two: on SQLite a transaction runs start to end without yielding, so
   * one for hundreds of streams would hold every socket for its whole length.
   */
  private async storeBatches(states: ThreadState[], evenEmpty = false): Promise<void> {
    // Rows locked in one order by every transaction that locks several: no deadlock with the lease renewal.
    const ordered = states.filter((s) => s.lease).sort((x, y) => (x.threadId < y.threadId ? -1 : 1));
    let failure: { error: unknown } | null = null;
    for (let i = 0; i < ordered.length; i += FLUSH_THREADS_PER_TX) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      try {
        await this.storeGroup(ordered.slice(i, i + FLUSH_THREADS_PER_TX), evenEmpty);
      } catch (error) {
        // The other groups are stored all the same; the first failure is reported.
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  private async storeGroup(states: ThreadState[], evenEmpty: boolean): Promise<void> {
    const batches = states
      .filter((s) => s.lease)
      .map((s) => ({ state: s, batch: s.takePending() }))
      .filter((b) => b.batch.length > 0 || evenEmpty);
    if (batches.length === 0) return;
    for (const { state } of batches) state.allocating = true;
    try {
      if (batches.length > 1) {
        try {
          const plans = await this.store.transaction(async (tx) => {
            const out: { plan: SeqPlan; leasedAt: number }[] = [];
            for (const { state, batch } of batches) out.push(await this.storeLeased(tx, state, batch));
            return out;
          });
          batches.forEach(({ state, batch }, i) => {
            const { plan, leasedAt } = plans[i]!;
            markStored(state, batch);
            this.applyPlan(state, plan, leasedAt);
            this.pubsub.publishStored(state.threadId, plan.changes.hw);
          });
          return;
        } catch (error) {
          // Maybe stored: no batch is given back (nor stored again); the threads stop publishing.
          if (error instanceof CommitUnknownError) {
            for (const { state } of batches) this.loseLease(state);
            return;
          }
          // One thread's failing batch must not keep the others unstored: store them one by one.
        }
      }
      const failures: unknown[] = [];
      for (const { state, batch } of batches) {
        try {
          const { plan, leasedAt } = await this.store.transaction((tx) => this.storeLeased(tx, state, batch));
          markStored(state, batch);
          this.applyPlan(state, plan, leasedAt);
          this.pubsub.publishStored(state.threadId, plan.changes.hw);
        } catch (error) {
          if (error instanceof LeaseLostError || error instanceof CommitUnknownError) {
            this.loseLease(state);
            continue;
          }
          // Only this thread backs off: the others' flushes (and runs) go on as before.
          state.restorePending(batch);
          state.flushFailures++;
          state.retryAt = Date.now() + Math.min(MAX_FLUSH_BACKOFF_MS, this.options.intervalMs * 2 ** state.flushFailures);
          failures.push(error);
        }
      }
      if (failures.length > 0) throw failures[0];
    } finally {
      for (const { state } of batches) {
        state.allocating = false;
        this.pump(state);
      }
    }
  }

  /** One thread's batch, stored by its writer: fenced by the epoch, moving HW and the window on. */
  private async storeLeased(tx: StoreTx, state: ThreadState, batch: MessageDeltaEvent[]): Promise<{ plan: SeqPlan; leasedAt: number }> {
    const row = await tx.lockThread(state.threadId);
    const lease = row === 'locked' ? undefined : this.heldLease(state, row);
    if (!lease || !row || row === 'locked') throw new LeaseLostError(state.threadId);
    await storeDeltas(tx, batch);
    const plan = planSeqs(row, lease, this.instanceId, this.options.leaseTtlMs, { count: 0 });
    const leasedAt = performance.now();
    await tx.setThreadSeqs(state.threadId, plan.changes);
    return { plan, leasedAt };
  }

  /**
   * A large batch (or a full window) is stored at once, not at the next timer: a fast provider
   * can deliver hundreds of deltas without the event loop reaching a timer. A thread whose
   * flushes fail waits for the timer (its backoff).
   */
  private flushThreadNow(state: ThreadState): void {
    if (state.busy || state.flushFailures > 0) return;
    this.flush(state.threadId).catch((error: unknown) => {
      this.options.onFlushError(error, [state.threadId]);
      this.flushWithin(state.retryAt - Date.now());
    });
  }

  /** The timed flush runs within `delayMs` (one due earlier stays). */
  private flushWithin(delayMs: number): void {
    const at = Date.now() + Math.max(0, delayMs);
    if (this.flushTimer && this.flushAt <= at) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushAt = at;
    this.flushTimer = this.scheduleFlush(at - Date.now());
  }

  /** The timed flush; a failure is reported and retried with the thread's backoff, never thrown from a timer. */
  private scheduleFlush(delayMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.flushTimer = null;
      const again = () => {
        const waiting = this.seqs.withPending();
        if (waiting.length === 0) return;
        const now = Date.now();
        this.flushWithin(Math.max(this.options.intervalMs, Math.min(...waiting.map((s) => s.retryAt - now))));
      };
      this.flushAll(false).then(again, (error: unknown) => {
        this.options.onFlushError(error, this.seqs.withPending().filter((s) => s.flushFailures > 0).map((s) => s.threadId));
        again();
      });
    }, delayMs);
    timer.unref();
    return timer;
  }
}

function windowFullError(): StorageError {
  return new StorageError(`the streamed text could not be stored: ${WINDOW_SEQS} deltas are waiting for the database`);
}

function rejectHeld(state: ThreadState, error: unknown): void {
  for (const held of state.held.splice(0)) held.reject(error);
}

/** A batch is stored: the thread's flushes are healthy again. */
function markStored(state: ThreadState, batch: MessageDeltaEvent[]): void {
  state.settle(batch);
  state.flushFailures = 0;
  state.retryAt = 0;
}

/** Stores deltas (seqs already published) and appends their text to their messages. */
async function storeDeltas(tx: StoreTx, batch: MessageDeltaEvent[]): Promise<void> {
  if (batch.length === 0) return;
  await tx.insertEvents(batch, new Date());
  await appendDeltaText(tx, batch);
}

/** Appends the deltas' text to their messages: one statement per message, not per delta. */
async function appendDeltaText(tx: StoreTx, batch: MessageDeltaEvent[]): Promise<void> {
  if (batch.length === 0) return;
  const textByMessage = new Map<string, string>();
  for (const event of batch) textByMessage.set(event.messageId, (textByMessage.get(event.messageId) ?? '') + event.delta);
  for (const [messageId, text] of textByMessage) await tx.appendMessageText(messageId, text);
}
