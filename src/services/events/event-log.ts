import { StorageError } from '../../store/errors.js';
import type { Store, StoreTx } from '../../store/types.js';
import type { EventListener, PubSub } from './pubsub.js';
import { ThreadSeqs, type ThreadState } from './thread-seqs.js';
import type { MessageDeltaEvent, NewThreadEvent, ThreadEvent } from './types.js';

export interface FlushOptions {
  intervalMs: number;
  maxChars: number;
  /** A flush that failed (it is retried, with backoff). */
  onFlushError: (error: unknown, threadIds: string[]) => void;
}

/** Flush when this many deltas of one thread wait. */
const FLUSH_AT_DELTAS = 128;
/**
 * Never more than this many unstored deltas per thread: it bounds the seqs a crash can lose,
 * which skipUnstoredSeqs() jumps over after a restart. A run whose deltas cannot be stored
 * (the flushes keep failing) is refused further deltas and ends STORAGE_ERROR.
 */
export const MAX_UNSTORED_DELTAS = 1024;
const MAX_FLUSH_BACKOFF_MS = 5000;
/** A run waits for its thread's flush once this many deltas are unstored (see backpressure()). */
const DRAIN_AT_DELTAS = 4 * FLUSH_AT_DELTAS;

/**
 * The per-thread event log: allocates `seq`, stores events, publishes them live.
 *
 * Status changes and message snapshots are stored in the transaction of the change they
 * describe, with seqs the store allocates from the thread's counter. Streamed text (deltas)
 * is published at once, with the next seq, and stored in batches (by time or size, one
 * transaction for all threads) with the message content it appends: one transaction per
 * flush, never one per token. A commit stores the thread's pending deltas first, and deltas
 * that arrive while it allocates seqs wait for it, so stored order is publish order.
 */
export class EventLog {
  private readonly seqs = new ThreadSeqs();
  private flushTimer: NodeJS.Timeout | null = null;
  /** When the scheduled timed flush runs (epoch ms). */
  private flushAt = 0;

  constructor(
    private readonly store: Store,
    readonly pubsub: PubSub,
    private readonly options: FlushOptions,
  ) {}

  /**
   * Runs `write` and stores the events it returns in one transaction (after the thread's
   * pending deltas), then publishes them. Returns `write`'s result.
   */
  async commit<T>(threadId: string, write: (tx: StoreTx) => Promise<{ result: T; events: NewThreadEvent[] }>): Promise<T> {
    return this.seqs.exclusive(threadId, async (state) => {
      state.allocating = true;
      const batch = state.takePending();
      try {
        let committed: { result: T; stored: ThreadEvent[] };
        try {
          committed = await this.store.transaction(async (tx) => {
            await storeDeltas(tx, threadId, batch);
            const out = await write(tx);
            const stored: ThreadEvent[] = [];
            if (out.events.length > 0) {
              const last = await tx.allocateSeqs(threadId, out.events.length, batch.at(-1)?.seq ?? 0);
              out.events.forEach((e, i) => stored.push({ ...e, seq: last - out.events.length + 1 + i, threadId } as ThreadEvent));
              await tx.insertEvents(stored, new Date());
            }
            return { result: out.result, stored };
          });
        } catch (error) {
          // Only a transaction that did not commit gives its deltas back; stored ones are never stored twice.
          state.restorePending(batch);
          throw error;
        }
        markStored(state, batch);
        if (committed.stored.length > 0) state.lastSeq = committed.stored.at(-1)!.seq;
        for (const event of committed.stored) this.pubsub.publish(event);
        return committed.result;
      } finally {
        state.allocating = false;
        this.releaseHeld(state);
      }
    });
  }

  /** Publishes streamed text now (or right after a commit in flight); stores it with the next flush. */
  appendDelta(threadId: string, runId: string, messageId: string, delta: string): void {
    const state = this.seqs.get(threadId);
    if (state.unstoredCount() >= MAX_UNSTORED_DELTAS) {
      this.flushWithin(state.flushFailures > 0 ? state.retryAt - Date.now() : 0);
      throw new StorageError(`the streamed text could not be stored: ${MAX_UNSTORED_DELTAS} deltas are waiting for the database`);
    }
    if (state.allocating || state.lastSeq === null) {
      state.held.push({ runId, messageId, delta });
      if (state.lastSeq === null) {
        this.loadLastSeq(state).catch((error: unknown) => this.options.onFlushError(error, [threadId]));
      }
      return;
    }
    this.emit(state, runId, messageId, delta);
  }

  /**
   * Backpressure for a run's stream: once DRAIN_AT_DELTAS deltas of the thread wait unstored, a
   * promise that settles when they are stored (or the flush failed), so the run reads the
   * provider on only then; null when nothing needs waiting for. SQLite stores a flush within the
   * same turn, so it never waits here; a PostgreSQL flush is a network round trip, and a provider
   * that bursts faster than that would otherwise hit MAX_UNSTORED_DELTAS and fail the run.
   */
  backpressure(threadId: string): Promise<void> | null {
    const state = this.seqs.peek(threadId);
    if (!state || state.flushFailures > 0 || state.unstoredCount() < DRAIN_AT_DELTAS) return null;
    return this.flush(threadId).catch((error: unknown) => {
      this.options.onFlushError(error, [threadId]);
      this.flushWithin(state.retryAt - Date.now());
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

  /** Stores the thread's pending deltas now. */
  async flush(threadId: string): Promise<void> {
    if (!this.seqs.peek(threadId)?.hasPending()) return;
    await this.seqs.exclusive(threadId, (state) => this.storeBatches([state]));
  }

  /**
   * Stores every thread's pending deltas: one transaction, or one per thread if that fails.
   * `all` false (the timer): threads backing off after refused flushes wait for their turn.
   */
  async flushAll(all = true): Promise<void> {
    const now = Date.now();
    const ready = this.seqs.withPending().filter((s) => !s.busy && (all || s.retryAt <= now));
    if (ready.length === 0) return;
    await this.seqs.exclusiveAll(ready, () => this.storeBatches(ready));
  }

  /**
   * After a crash: the dead process may have published up to MAX_UNSTORED_DELTAS deltas on this
   * thread that it never stored. Their seqs are skipped, so no seq a client saw is reused.
   */
  async skipUnstoredSeqs(threadId: string): Promise<void> {
    await this.seqs.exclusive(threadId, async (state) => {
      const last = await this.store.transaction((tx) => tx.allocateSeqs(threadId, MAX_UNSTORED_DELTAS, 0));
      state.lastSeq = last;
    });
  }

  /** Drops what is known of a deleted thread. */
  forget(threadId: string): void {
    this.seqs.delete(threadId);
  }

  /** Subscribes to the thread's live events; returns the function that unsubscribes. */
  subscribe(threadId: string, listener: EventListener): () => void {
    return this.pubsub.subscribe(threadId, listener);
  }

  readStored(threadId: string, after: number, limit: number): Promise<ThreadEvent[]> {
    return this.store.events.readAfter(threadId, after, limit);
  }

  stop(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private emit(state: ThreadState, runId: string, messageId: string, delta: string): void {
    const event: MessageDeltaEvent = { kind: 'MESSAGE_DELTA', seq: ++state.lastSeq!, threadId: state.threadId, runId, messageId, delta };
    state.addPending(event);
    this.pubsub.publish(event);
    if (state.pendingChars >= this.options.maxChars || state.pendingCount() >= FLUSH_AT_DELTAS) this.flushThreadNow(state);
    else this.flushWithin(this.options.intervalMs);
  }

  private releaseHeld(state: ThreadState): void {
    if (state.allocating || state.lastSeq === null) return;
    for (const held of state.held.splice(0)) this.emit(state, held.runId, held.messageId, held.delta);
  }

  /** A thread this process has not written to yet: its seq continues from the stored one. */
  private async loadLastSeq(state: ThreadState): Promise<void> {
    if (state.loading) return;
    state.loading = true;
    try {
      const thread = await this.store.threads.find(state.threadId);
      state.lastSeq ??= thread?.lastEventSeq ?? 0;
    } finally {
      state.loading = false;
      this.releaseHeld(state);
    }
  }

  private async storeBatches(states: ThreadState[]): Promise<void> {
    const batches = states.map((s) => ({ state: s, batch: s.takePending() })).filter((b) => b.batch.length > 0);
    if (batches.length === 0) return;
    if (batches.length > 1) {
      try {
        await this.store.transaction(async (tx) => {
          for (const { state, batch } of batches) await storeDeltas(tx, state.threadId, batch);
        });
        for (const { state, batch } of batches) markStored(state, batch);
        return;
      } catch {
        // One thread's failing batch must not keep the others unstored: store them one by one.
      }
    }
    const failures: unknown[] = [];
    for (const { state, batch } of batches) {
      try {
        await this.store.transaction((tx) => storeDeltas(tx, state.threadId, batch));
        markStored(state, batch);
      } catch (error) {
        // Only this thread backs off: the others' flushes (and runs) go on as before.
        state.restorePending(batch);
        state.flushFailures++;
        state.retryAt = Date.now() + Math.min(MAX_FLUSH_BACKOFF_MS, this.options.intervalMs * 2 ** state.flushFailures);
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }

  /**
   * A large batch is stored at once, not at the next timer: a fast provider can deliver
   * hundreds of deltas without the event loop reaching a timer. A thread whose flushes fail
   * waits for the timer (its backoff).
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

/** A batch is stored: the thread's flushes are healthy again. */
function markStored(state: ThreadState, batch: MessageDeltaEvent[]): void {
  state.settle(batch);
  state.flushFailures = 0;
  state.retryAt = 0;
}

/** Stores deltas (seqs already published) and appends their text to their messages. */
async function storeDeltas(tx: StoreTx, threadId: string, batch: MessageDeltaEvent[]): Promise<void> {
  if (batch.length === 0) return;
  await tx.insertEvents(batch, new Date());
  const textByMessage = new Map<string, string>();
  for (const event of batch) textByMessage.set(event.messageId, (textByMessage.get(event.messageId) ?? '') + event.delta);
  for (const [messageId, text] of textByMessage) await tx.appendMessageText(messageId, text);
  await tx.allocateSeqs(threadId, 0, batch.at(-1)!.seq);
}
