import { BadUserInputError, NotFoundError } from '../../errors.js';
import type { Store } from '../../store/types.js';
import type { EventLog } from './event-log.js';
import { LogStream, type LogSource } from './log-stream.js';
import { LocalSubscriptionCaps, type SubscriptionCaps } from './subscription-caps.js';
import { isTerminalRunStatus, type ThreadEvent } from './types.js';

export interface StreamOptions {
  /** Resolves when the transport can take another event (backpressure); undefined: it can now. */
  writable?: () => Promise<void> | undefined;
}

/**
 * Subscriptions to threads' events (the events service): who may open them, how many, from
 * where they start, and ending them at shutdown or when a thread is deleted.
 */
export class EventService {
  private readonly open = new Map<LogStream, string>();
  private readonly perOwner = new Map<string, number>();
  private readonly source: LogSource;

  constructor(
    readonly log: EventLog,
    private readonly store: Store,
    maxPerOwner: number,
    /** Where the per-owner cap is counted (with Redis: across instances). */
    private readonly caps: SubscriptionCaps = new LocalSubscriptionCaps(maxPerOwner),
  ) {
    this.source = {
      pubsub: log.pubsub,
      readStored: (threadId, after, limit) => log.readStored(threadId, after, limit),
      storedThrough: async (threadId) => (await store.threads.find(threadId))?.lastEventSeq ?? 0,
      lastPublishedSeq: (threadId) => log.lastPublishedSeq(threadId),
    };
  }

  get pubsub() {
    return this.log.pubsub;
  }

  /** threadEvents: events with seq > after replayed from the log, then live ones (after null: live only). */
  async threadEvents(owner: string, threadId: string, after: number | null, options: StreamOptions = {}): Promise<LogStream> {
    const thread = await this.store.threads.find(threadId, owner);
    if (!thread) throw new NotFoundError('thread', threadId);
    const last = await this.highestSeq(threadId, thread.lastEventSeq);
    if (after !== null && after < 0) throw new BadUserInputError('after', 'must be 0 or more');
    if (after !== null && after > last) {
      throw new BadUserInputError('after', `is ${after}, beyond the thread's lastEventSeq (${last}); pass a seq this thread has reached`);
    }
    const release = await this.caps.reserve(owner);
    const stream = new LogStream(this.source, { threadId, after: after ?? last, replay: after !== null, writable: options.writable });
    return this.track(stream, threadId, owner, release);
  }

  /**
   * runEvents: a snapshot (the reply so far, then the run's status, both at the seq they were
   * stored at), the run's events after it, then live ones; ends after the terminal status.
   */
  async runEvents(owner: string, runId: string, options: StreamOptions = {}): Promise<LogStream> {
    const found = await this.store.runs.find(runId, owner);
    if (!found) throw new NotFoundError('run', runId);
    // Store what was published, so the snapshot is at the thread's current seq; then one read:
    // the stored reply, status and seq describe the same moment (what follows comes from the log).
    await this.log.flush(found.threadId);
    const { run, reply, lastEventSeq: seq } = (await this.store.runs.snapshot(runId))!;
    const preface: ThreadEvent[] = [];
    if (reply) preface.push({ kind: 'MESSAGE', seq, threadId: run.threadId, message: reply });
    preface.push({ kind: 'RUN_STATUS', seq, threadId: run.threadId, run });
    const release = await this.caps.reserve(owner);
    const ended = isTerminalRunStatus(run.status);
    const stream = new LogStream(this.source, {
      threadId: run.threadId,
      after: seq,
      replay: !ended,
      preface,
      accept: (event) => belongsToRun(event, runId),
      isLast: (event) => event.kind === 'RUN_STATUS' && event.run.id === runId && isTerminalRunStatus(event.run.status),
      writable: options.writable,
    });
    return this.track(stream, run.threadId, owner, release);
  }

  /** The thread's highest seq, stored or published here or by another instance (a stream from here misses nothing later). */
  async currentSeq(threadId: string): Promise<number> {
    return this.highestSeq(threadId, (await this.store.threads.find(threadId))?.lastEventSeq ?? 0);
  }

  private async highestSeq(threadId: string, stored: number): Promise<number> {
    // Another instance's run may have published past what is stored (its recent events).
    const published = (await this.pubsub.recent(threadId, stored)).at(-1)?.seq ?? 0;
    return Math.max(stored, this.log.lastPublishedSeq(threadId) ?? 0, published);
  }

  /**
   * One run's events with seq > after, replayed then live, with no snapshot (the Assistants
   * API's streams, /v1): they end after the run's terminal status or, with `untilAction`,
   * when it stops to wait for tool outputs.
   */
  async runEventsAfter(owner: string, runId: string, after: number, options: StreamOptions & { untilAction?: boolean } = {}): Promise<LogStream> {
    const run = await this.store.runs.find(runId, owner);
    if (!run) throw new NotFoundError('run', runId);
    const release = await this.caps.reserve(owner);
    const stream = new LogStream(this.source, {
      threadId: run.threadId,
      after,
      replay: true,
      accept: (event) => belongsToRun(event, runId),
      isLast: (event) =>
        event.kind === 'RUN_STATUS' && event.run.id === runId && (isTerminalRunStatus(event.run.status) || (options.untilAction === true && event.run.status === 'REQUIRES_ACTION')),
      writable: options.writable,
    });
    return this.track(stream, run.threadId, owner, release);
  }

  /** Each open stream's buffered events and how often it fell behind (metrics, tests). */
  streamStats(): { threadId: string; buffered: number; fellBehind: number }[] {
    return [...this.open].map(([stream, threadId]) => ({ threadId, ...stream.stats() }));
  }

  /** Open subscriptions (of one owner, or all). */
  openCount(owner?: string): number {
    return owner === undefined ? this.open.size : (this.perOwner.get(owner) ?? 0);
  }

  /**
   * Ends the open streams (of one thread, or all): each completes once it has sent what was
   * published so far, read page by page as its consumer reads. Those not drained within
   * `timeoutMs` are cut.
   */
  async endStreams(timeoutMs: number, threadId?: string): Promise<void> {
    const streams = [...this.open].filter(([, t]) => threadId === undefined || t === threadId).map(([s]) => s);
    for (const stream of streams) stream.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(streams.map((s) => s.drained)), timeout]);
    clearTimeout(timer);
    for (const stream of streams) stream.close();
  }

  private track(stream: LogStream, threadId: string, owner: string, release: () => void): LogStream {
    this.open.set(stream, threadId);
    this.perOwner.set(owner, (this.perOwner.get(owner) ?? 0) + 1);
    stream.onEnd(() => {
      release();
      this.open.delete(stream);
      const count = (this.perOwner.get(owner) ?? 1) - 1;
      if (count > 0) this.perOwner.set(owner, count);
      else this.perOwner.delete(owner);
    });
    return stream;
  }
}

function belongsToRun(event: ThreadEvent, runId: string): boolean {
  switch (event.kind) {
    case 'RUN_STATUS':
      return event.run.id === runId;
    case 'MESSAGE_DELTA':
      return event.runId === runId;
    case 'MESSAGE':
      return event.message.role === 'ASSISTANT' && event.message.runId === runId;
  }
}
