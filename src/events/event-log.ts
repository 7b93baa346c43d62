import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { prepared } from '../db/prepared.js';
import { events, messages, threads } from '../db/schema.js';
import type { EventListener, PubSub } from './pubsub.js';
import { eventFromRow, eventPayload } from './serialize.js';
import type { MessageDeltaEvent, NewThreadEvent, ThreadEvent } from './types.js';

export interface FlushOptions {
  intervalMs: number;
  maxChars: number;
  /** A timed flush that failed (it is retried at the next interval). */
  onFlushError: (error: unknown) => void;
}

/**
 * Also flush when this many deltas wait. It bounds the seqs a crash can lose, which
 * skipUnstoredSeqs() jumps over after a restart.
 */
const MAX_PENDING_DELTAS = 256;

/** A subscription stream, as shutdown sees it. */
export interface ClosableStream {
  end(): void;
  drained: Promise<void>;
}

interface PendingDeltas {
  /** The thread's stored last_event_seq when this batch began. */
  baseSeq: number;
  events: MessageDeltaEvent[];
  chars: number;
}

/**
 * The per-thread event log: allocates `seq`, stores events, publishes them live, replays them.
 *
 * Status changes and message snapshots are stored in the same transaction as the change they
 * describe. Streamed text (deltas) is published at once but stored in batches — by time or
 * size — together with the message content it appends, so storage costs one transaction per
 * flush, never one per token. Every stored write flushes the thread's pending deltas first,
 * so stored seq order is publish order.
 */
export class EventLog {
  private readonly pending = new Map<string, PendingDeltas>();
  /** One timer for all threads: a flush stores every pending batch in one transaction. */
  private flushTimer: NodeJS.Timeout | null = null;
  /** Open subscription streams, ended at shutdown. */
  private readonly openStreams = new Map<ClosableStream, string>();

  private readonly selectLastSeq;
  private readonly insertEvent;
  private readonly appendContent;
  private readonly setLastSeq;

  constructor(
    private readonly db: Db,
    readonly pubsub: PubSub,
    private readonly options: FlushOptions,
  ) {
    this.selectLastSeq = db
      .select({ lastEventSeq: threads.lastEventSeq })
      .from(threads)
      .where(eq(threads.id, sql.placeholder('threadId')))
      .prepare();
    this.insertEvent = db.$client.prepare(
      'insert into events (thread_id, seq, type, message_id, payload, created_at) values (?, ?, ?, ?, ?, ?)',
    );
    this.appendContent = db
      .update(messages)
      .set({ content: sql`${messages.content} || ${sql.placeholder('text')}` })
      .where(eq(messages.id, sql.placeholder('messageId')))
      .prepare();
    this.setLastSeq = db
      .update(threads)
      .set({ lastEventSeq: sql`${sql.placeholder('seq')}` })
      .where(eq(threads.id, sql.placeholder('threadId')))
      .prepare();
  }

  /**
   * Runs `write` and stores the events it returns in one transaction (after the thread's
   * pending deltas), then publishes them. Returns `write`'s result.
   */
  commit<T>(threadId: string, write: (db: Db) => { result: T; events: NewThreadEvent[] }): T {
    const stored: ThreadEvent[] = [];
    const result = this.db.transaction(() => {
      this.storePending(threadId);
      const out = write(this.db);
      if (out.events.length > 0) {
        let seq = this.storedLastSeq(threadId);
        const now = Date.now();
        for (const input of out.events) {
          const event = { ...input, seq: ++seq, threadId } as ThreadEvent;
          this.insertStored(event, now);
          stored.push(event);
        }
        this.setLastSeq.run({ threadId, seq });
      }
      return out.result;
    });
    this.clearPending(threadId);
    for (const event of stored) this.pubsub.publish(event);
    return result;
  }

  /** Publishes streamed text now; stores it with the next flush. */
  appendDelta(threadId: string, runId: string, messageId: string, delta: string): void {
    let batch = this.pending.get(threadId);
    if (!batch) {
      batch = { baseSeq: this.storedLastSeq(threadId), events: [], chars: 0 };
      this.pending.set(threadId, batch);
      this.flushTimer ??= this.scheduleFlush();
    }
    const event: MessageDeltaEvent = {
      kind: 'MESSAGE_DELTA',
      seq: batch.baseSeq + batch.events.length + 1,
      threadId,
      runId,
      messageId,
      delta,
    };
    batch.events.push(event);
    batch.chars += delta.length;
    this.pubsub.publish(event);
    if (batch.chars >= this.options.maxChars || batch.events.length >= MAX_PENDING_DELTAS) {
      this.flush(threadId);
    }
  }

  /** Stores the thread's pending deltas (one transaction). */
  flush(threadId: string): void {
    if (!this.pending.has(threadId)) return;
    this.db.transaction(() => this.storePending(threadId));
    this.clearPending(threadId);
  }

  /**
   * After a crash: the dead process may have published up to MAX_PENDING_DELTAS deltas on this
   * thread that it never stored. Their seqs are skipped, so no seq a client saw is reused.
   */
  skipUnstoredSeqs(threadId: string): void {
    this.db.transaction(() => this.setLastSeq.run({ threadId, seq: this.storedLastSeq(threadId) + MAX_PENDING_DELTAS }));
  }

  /** Stores every thread's pending deltas, in one transaction. */
  flushAll(): void {
    if (this.pending.size === 0) return;
    const threadIds = [...this.pending.keys()];
    this.db.transaction(() => {
      for (const threadId of threadIds) this.storePending(threadId);
    });
    for (const threadId of threadIds) this.clearPending(threadId);
  }

  /** Drops pending deltas of a thread that is being deleted. */
  forget(threadId: string): void {
    this.clearPending(threadId);
  }

  /** Subscribes to the thread's live events; returns the function that unsubscribes. */
  subscribe(threadId: string, listener: EventListener): () => void {
    // Whatever was published before this moment is stored from now on, so a replay that
    // reads the store and then the live events misses nothing.
    this.flush(threadId);
    return this.pubsub.subscribe(threadId, listener);
  }

  /** Stored events with seq > `after`, oldest first, at most `limit` (replays read in pages). */
  readStored(threadId: string, after: number, limit: number): ThreadEvent[] {
    const page = prepared(this.db, 'events.page', () =>
      this.db
        .select()
        .from(events)
        .where(and(eq(events.threadId, sql.placeholder('threadId')), gt(events.seq, sql.placeholder('after'))))
        .orderBy(asc(events.seq))
        .limit(sql.placeholder('limit'))
        .prepare(),
    );
    return page.all({ threadId, after, limit }).map(eventFromRow);
  }

  /** Registers a stream to end at shutdown; returns the function that forgets it. */
  trackStream(stream: ClosableStream, threadId: string): () => void {
    this.openStreams.set(stream, threadId);
    return () => this.openStreams.delete(stream);
  }

  /**
   * Ends the open subscription streams (of one thread, or all) and waits (at most `timeoutMs`)
   * until their consumers have read what was queued, so the last events are not cut off.
   */
  async endStreams(timeoutMs: number, threadId?: string): Promise<void> {
    const streams = [...this.openStreams].filter(([, t]) => threadId === undefined || t === threadId).map(([s]) => s);
    for (const stream of streams) stream.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(streams.map((s) => s.drained)), timeout]);
    clearTimeout(timer);
  }

  /** The timed flush; a failure is reported and retried next interval, never thrown from a timer. */
  private scheduleFlush(): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.flushTimer = null;
      try {
        this.flushAll();
      } catch (error) {
        this.options.onFlushError(error);
        if (this.pending.size > 0) this.flushTimer = this.scheduleFlush();
      }
    }, this.options.intervalMs);
    timer.unref();
    return timer;
  }

  private storedLastSeq(threadId: string): number {
    return this.selectLastSeq.get({ threadId })?.lastEventSeq ?? 0;
  }

  private storePending(threadId: string): void {
    const batch = this.pending.get(threadId);
    if (!batch || batch.events.length === 0) return;
    const now = Date.now();
    const textByMessage = new Map<string, string>();
    for (const event of batch.events) {
      this.insertStored(event, now);
      textByMessage.set(event.messageId, (textByMessage.get(event.messageId) ?? '') + event.delta);
    }
    for (const [messageId, text] of textByMessage) this.appendContent.run({ messageId, text });
    this.setLastSeq.run({ threadId, seq: batch.events.at(-1)!.seq });
  }

  private clearPending(threadId: string): void {
    if (!this.pending.delete(threadId) || this.pending.size > 0 || !this.flushTimer) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = null;
  }

  private insertStored(event: ThreadEvent, now: number): void {
    const messageId = event.kind === 'MESSAGE_DELTA' ? event.messageId : null;
    this.insertEvent.run(event.threadId, event.seq, event.kind, messageId, JSON.stringify(eventPayload(event)), now);
  }
}
