import type { EventLog } from './event-log.js';
import type { ThreadEvent } from './types.js';

/** Live events one subscriber may have waiting; past it the subscriber reads the stored log instead. */
export const LIVE_BUFFER_EVENTS = 256;
/** Stored events read per page when a subscriber replays or catches up. */
export const REPLAY_PAGE_EVENTS = 500;

export interface LogStreamOptions {
  threadId: string;
  /** Events with seq <= this were sent already (or are not wanted): the stream starts after it. */
  after: number;
  /** Read the stored log from `after` before live events (replays); false: live events only. */
  replay: boolean;
  /** Events sent first, before any other (the runEvents snapshot), unchecked. */
  preface?: ThreadEvent[];
  /** Which events this stream carries (runEvents: its run's). */
  accept?: (event: ThreadEvent) => boolean;
  /** The event after which the stream completes (runEvents: the terminal status). */
  isLast?: (event: ThreadEvent) => boolean;
  /** Resolves when the transport can take another event (WebSocket: its send buffer drained). */
  writable?: () => Promise<void>;
}

/**
 * One subscriber's stream of a thread's events, exact and bounded. Live events wait in a small
 * buffer; when the subscriber falls behind (the buffer overflows) or replays, it reads the
 * stored log page by page from where it is, plus the deltas published but not yet stored, and
 * joins the live events again once it has caught up. Memory per subscriber stays bounded
 * however slow it reads: at most one page and one live buffer.
 */
export class LogStream implements AsyncIterableIterator<ThreadEvent> {
  private readonly live: ThreadEvent[] = [];
  private readonly preface: ThreadEvent[];
  private page: ThreadEvent[] = [];
  /** The stored log must be read before live events can be used. */
  private behind: boolean;
  /** Highest seq read from the log (store or unstored deltas). */
  private scanned: number;
  /** Highest seq sent. */
  private delivered: number;
  private drops = 0;
  private finished = false;
  /** The consumer went away (or the stream was cut): nothing more is sent. */
  private closed = false;
  private ending = false;
  private endAt = Number.POSITIVE_INFINITY;
  private wake: (() => void) | null = null;
  private failure: unknown = null;
  private readonly cleanups: (() => void)[] = [];
  private markDrained!: () => void;
  /** Resolves once the consumer has read the end (or went away). */
  readonly drained = new Promise<void>((resolve) => (this.markDrained = resolve));

  constructor(
    private readonly log: EventLog,
    private readonly options: LogStreamOptions,
  ) {
    this.preface = [...(options.preface ?? [])];
    this.behind = options.replay;
    this.scanned = options.after;
    this.delivered = options.after;
    const subscription = log.subscribe(options.threadId, { event: (event) => this.onLive(event) });
    this.cleanups.push(() => subscription.unsubscribe());
  }

  /** What the stream holds in memory now, and how often it fell behind (metrics, tests). */
  stats(): { buffered: number; fellBehind: number } {
    return { buffered: this.live.length + this.page.length + this.preface.length, fellBehind: this.drops };
  }

  /** Adds work to do once when the stream ends, however it ends. */
  onEnd(cleanup: () => void): void {
    if (this.finished) cleanup();
    else this.cleanups.push(cleanup);
  }

  /** Completes the stream once it has sent what was published up to now (shutdown, deleteThread). */
  end(): void {
    if (this.finished || this.ending) return;
    this.ending = true;
    const published = this.log.lastPublishedSeq(this.options.threadId);
    // A replay of a thread this process has not written to: what is stored is the end, however far.
    this.endAt = this.behind && published === null ? Number.POSITIVE_INFINITY : Math.max(this.delivered, published ?? 0, this.live.at(-1)?.seq ?? 0);
    this.notify();
  }

  /** Ends the stream with an error, after nothing more. */
  fail(error: unknown): void {
    if (this.finished) return;
    this.failure = error;
    this.finish();
  }

  /** Ends the stream at once: what was not sent is dropped. */
  close(): void {
    this.closed = true;
    this.finish();
    this.markDrained();
  }

  async next(): Promise<IteratorResult<ThreadEvent>> {
    for (;;) {
      if (this.finished) return this.done();
      const event = this.takeNext();
      if (event) {
        if (this.options.writable) await this.options.writable();
        if (this.closed) return this.done();
        this.delivered = Math.max(this.delivered, event.seq);
        if (this.options.isLast?.(event) || (this.ending && this.delivered >= this.endAt)) this.finish();
        return { value: event, done: false };
      }
      if (this.behind) {
        await this.readPage();
        continue;
      }
      if (this.ending) {
        this.finish();
        continue;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  return(): Promise<IteratorResult<ThreadEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private onLive(event: ThreadEvent): void {
    if (this.finished || event.seq <= this.delivered || (this.ending && event.seq > this.endAt)) return;
    if (this.options.accept && !this.options.accept(event)) return;
    if (this.live.length >= LIVE_BUFFER_EVENTS) {
      // The subscriber is too slow for live delivery: forget the buffer, read the log instead.
      this.live.length = 0;
      this.drops++;
      this.behind = true;
    }
    this.live.push(event);
    this.notify();
  }

  private takeNext(): ThreadEvent | undefined {
    if (this.preface.length > 0) return this.preface.shift();
    for (;;) {
      const fromPage = this.page.length > 0;
      const event = fromPage ? this.page.shift() : this.behind ? undefined : this.live.shift();
      if (!event) return undefined;
      if (event.seq > this.delivered) return event;
    }
  }

  /** One page of the stored log after what was read, with the unstored deltas after it. */
  private async readPage(): Promise<void> {
    const { threadId, accept } = this.options;
    const drops = this.drops;
    // Everything up to what was sent is behind us: no need to read it again.
    this.scanned = Math.max(this.scanned, this.delivered);
    // Taken before the read: a delta stored meanwhile is then in one of the two, never in neither.
    const unstored = this.log.unstored(threadId).filter((e) => e.seq > this.scanned);
    let stored: ThreadEvent[];
    try {
      stored = await this.log.readStored(threadId, this.scanned, REPLAY_PAGE_EVENTS);
    } catch (error) {
      this.fail(error);
      return;
    }
    const full = stored.length === REPLAY_PAGE_EVENTS;
    const lastStored = stored.at(-1)?.seq ?? this.scanned;
    // With a full page, unstored deltas come after the next pages: leave them for later.
    const merged = full ? stored : [...stored, ...unstored.filter((e) => e.seq > lastStored)];
    this.scanned = Math.max(this.scanned, merged.at(-1)?.seq ?? this.scanned);
    this.page = this.page.concat(accept ? merged.filter(accept) : merged);
    if (!full && this.drops === drops) this.behind = false;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.live.length = 0;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.notify();
  }

  private done(): Promise<IteratorResult<ThreadEvent>> {
    this.markDrained();
    const failure = this.failure;
    this.failure = null;
    return failure ? Promise.reject(failure) : Promise.resolve({ value: undefined, done: true });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
