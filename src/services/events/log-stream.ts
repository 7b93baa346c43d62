import { IdleChecks, type IdleWaiter } from './idle-checks.js';
import type { PubSub, Subscription, ThreadListener } from './pubsub.js';
import type { ThreadEvent } from './types.js';

/** Live events one subscriber may have waiting (held or queued); past it the subscriber reads the stored log instead. */
export const LIVE_BUFFER_EVENTS = 256;
/** Stored events read per page when a subscriber replays or catches up. */
export const REPLAY_PAGE_EVENTS = 500;
/**
 * How long a live event that does not follow the last one waits for the events before it
 * (another instance's, still on the way, or lost) before the stream reads them from the
 * database anyway. A stored notice ends the wait sooner.
 */
export const GAP_WAIT_MS = 100;
/**
 * A stream waiting this long with nothing to send asks the database for the thread's stored
 * high-water mark (one small read per idle stream), and catches up if it is past its position:
 * the backstop for a message lost on the way (a dropped Redis publish of a run's last events
 * and of its stored notice) that no later event or notice would reveal.
 */
export const IDLE_CHECK_MS = 5000;

/** Every stream's idle wait, on one timer. */
const idleChecks = new IdleChecks(IDLE_CHECK_MS);
/** No held event: shared, never written (a Map's table is ~200 bytes per idle stream otherwise). */
const NOTHING_HELD: ReadonlyMap<number, ThreadEvent> = new Map();

/** Where a stream reads from: the bus for live events, the store for the rest. */
export interface LogSource {
  readonly pubsub: PubSub;
  /** Stored events with seq > after, oldest first, at most `limit`. */
  readStored(threadId: string, after: number, limit: number): Promise<ThreadEvent[]>;
  /** Every seq <= this is final in the database (the thread's lastEventSeq; 0 when it is gone). */
  storedThrough(threadId: string): Promise<number>;
  /** The highest seq this process published on the thread (null: it has not written to it). */
  lastPublishedSeq(threadId: string): number | null;
}

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
  /**
   * Resolves when the transport can take another event (WebSocket: its send buffer drained);
   * undefined when it can now (no promise to await per event on a socket that keeps up).
   */
  writable?: () => Promise<void> | undefined;
}

/**
 * One subscriber's stream of a thread's events, exact and bounded, on one instance or many.
 *
 * The stream keeps `position`: every seq of the thread up to it was sent (or is not for this
 * stream, or does not exist). A live event is used at once when it is the next seq; one that
 * is not (a gap: another instance's event still on the way, a message Redis lost, seqs skipped
 * by a crash or a foreign write) is held until a stored notice or GAP_WAIT_MS, then the stream
 * catches up: recent() first (published, maybe unstored), then the stored log up to the stored
 * high-water mark, whose missing seqs are gaps for good. resync() (Redis reconnected) and a
 * slow subscriber (its buffer overflows) catch up the same way. Memory per subscriber stays
 * bounded however slow it reads: at most one page and one live buffer.
 *
 * An idle stream holds little: it is its own bus listener and idle-check waiter (no closures
 * per stream), holds no Map while no event is held, and builds `drained` only when asked.
 */
export class LogStream implements AsyncIterableIterator<ThreadEvent>, ThreadListener, IdleWaiter {
  private readonly preface: ThreadEvent[];
  /** From a catch-up (stored pages), to send before `live`. */
  private page: ThreadEvent[] = [];
  /** Live events in order, to send. */
  private live: ThreadEvent[] = [];
  /** Live events past a gap, by seq (written through hold(): NOTHING_HELD is shared). */
  private held: Map<number, ThreadEvent> = NOTHING_HELD as Map<number, ThreadEvent>;
  /** The stored log must be read before live events can be used. */
  private behind: boolean;
  /** Every seq of the thread <= position is accounted for (queued, sent, filtered out, or a gap). */
  private position: number;
  /** Highest seq sent. */
  private delivered: number;
  private drops = 0;
  private gapTimer: NodeJS.Timeout | null = null;
  private finished = false;
  /** The consumer went away (or the stream was cut): nothing more is sent. */
  private closed = false;
  private ending = false;
  /** Ending: the last catch-up before completing has been read. */
  private endCaughtUp = false;
  private endAt = Number.POSITIVE_INFINITY;
  private wake: (() => void) | null = null;
  private failure: unknown = null;
  private readonly subscription: Subscription;
  private readonly cleanups: (() => void)[] = [];
  private isDrained = false;
  private drainedPromise: Promise<void> | null = null;
  private resolveDrained: (() => void) | null = null;
  idlePrev: IdleWaiter | null = null;
  idleNext: IdleWaiter | null = null;
  idleDue = 0;
  idleQueued = false;

  constructor(
    private readonly source: LogSource,
    private readonly options: LogStreamOptions,
  ) {
    this.preface = [...(options.preface ?? [])];
    this.behind = options.replay;
    this.position = options.after;
    this.delivered = options.after;
    this.subscription = source.pubsub.subscribe(options.threadId, this);
    this.cleanups.push(() => this.subscription.unsubscribe());
    // Events published before the subscription took effect (another instance's) are read once it has.
    if (!options.replay) void this.subscription.ready.then(() => this.catchUpSoon());
  }

  /** Resolves once the consumer has read the end (or went away). */
  get drained(): Promise<void> {
    if (!this.drainedPromise) {
      this.drainedPromise = this.isDrained ? Promise.resolve() : new Promise<void>((resolve) => (this.resolveDrained = resolve));
    }
    return this.drainedPromise;
  }

  /** What the stream holds in memory now, and how often it fell behind (metrics, tests). */
  stats(): { buffered: number; fellBehind: number } {
    return { buffered: this.live.length + this.held.size + this.page.length + this.preface.length, fellBehind: this.drops };
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
    const published = this.source.lastPublishedSeq(this.options.threadId);
    // A replay of a thread this process has not written to: what is stored is the end, however far.
    const lastHeld = Math.max(0, ...this.held.keys());
    this.endAt = this.behind && published === null ? Number.POSITIVE_INFINITY : Math.max(this.position, published ?? 0, lastHeld);
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
        const drained = this.options.writable?.();
        if (drained) await drained;
        if (this.closed) return this.done();
        this.delivered = Math.max(this.delivered, event.seq);
        if (this.options.isLast?.(event) || (this.ending && this.position >= this.endAt && !this.hasQueued())) this.finish();
        return { value: event, done: false };
      }
      if (this.behind) {
        await this.catchUp();
        continue;
      }
      if (this.ending) {
        // A gap still open: one last read of what was stored and published, then the end.
        if (this.held.size > 0 && !this.endCaughtUp) {
          this.endCaughtUp = true;
          this.behind = true;
        } else this.finish();
        continue;
      }
      await this.idle();
    }
  }

  /** Waits for something to send; every IDLE_CHECK_MS of nothing, checks the stored high-water mark (idleCheck). */
  private idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      idleChecks.add(this);
    });
  }

  /** IDLE_CHECK_MS passed with nothing to send (idle-checks.ts calls it). */
  idleCheck(): void {
    this.source.storedThrough(this.options.threadId).then(
      (through) => {
        if (through > this.position) this.catchUpSoon();
        else this.notify();
      },
      // The database is not answering: the next check (or event) tries again.
      () => this.notify(),
    );
  }

  return(): Promise<IteratorResult<ThreadEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** A live event from the bus (ThreadListener). */
  event(event: ThreadEvent): void {
    if (this.finished || event.seq <= this.position || (this.ending && event.seq > this.endAt)) return;
    if (this.held.size + this.live.length >= LIVE_BUFFER_EVENTS) return this.overflow();
    this.hold(event);
    this.drain();
  }

  /** A stored notice from the bus (ThreadListener). */
  stored(through: number): void {
    // Also with nothing held: the live events below `through` may have been lost with no later one to show the gap.
    if (through > this.position) this.catchUpSoon();
  }

  /** Live delivery was interrupted (ThreadListener). */
  resync(): void {
    this.catchUpSoon();
  }

  private hold(event: ThreadEvent): void {
    if (this.held === NOTHING_HELD) this.held = new Map();
    this.held.set(event.seq, event);
  }

  /** Too slow for live delivery (or too long a gap): forget the live events, read the log from what was sent instead. */
  private overflow(): void {
    this.live = [];
    this.held = NOTHING_HELD as Map<number, ThreadEvent>;
    // Live events were queued past the page: they are read again, from the store or recent().
    this.position = this.page.at(-1)?.seq ?? this.delivered;
    this.drops++;
    this.catchUpSoon();
  }

  /** Uses the held events that follow `position`; a gap left open waits for a stored notice or the timer. */
  private drain(): void {
    let next: ThreadEvent | undefined;
    let queued = false;
    while ((next = this.held.get(this.position + 1))) {
      this.held.delete(next.seq);
      this.consume(next, this.live);
      queued = true;
    }
    for (const seq of this.held.keys()) if (seq <= this.position) this.held.delete(seq);
    if (this.held.size > 0) this.armGapTimer();
    if (queued) this.notify();
  }

  private consume(event: ThreadEvent, into: ThreadEvent[]): void {
    this.position = event.seq;
    if (!this.options.accept || this.options.accept(event)) into.push(event);
  }

  private armGapTimer(): void {
    if (this.gapTimer || this.behind) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.held.size > 0) this.catchUpSoon();
    }, GAP_WAIT_MS);
    this.gapTimer.unref();
  }

  private catchUpSoon(): void {
    if (this.finished) return;
    this.behind = true;
    this.notify();
  }

  private hasQueued(): boolean {
    return this.page.length > 0 || this.live.length > 0 || this.preface.length > 0;
  }

  private takeNext(): ThreadEvent | undefined {
    if (this.preface.length > 0) return this.preface.shift();
    for (;;) {
      const event = this.page.length > 0 ? this.page.shift() : this.live.shift();
      if (!event) return undefined;
      if (event.seq > this.delivered) return event;
    }
  }

  /**
   * One page of the stored log after `position`, up to the stored high-water mark; with the
   * log read to its end, `position` moves to that mark and the recent (maybe unstored) events
   * after it follow. recent() is read first: an event is then in it, in the store, or
   * published after it and so delivered live (the subscription was in place before).
   */
  private async catchUp(): Promise<void> {
    const { threadId } = this.options;
    const drops = this.drops;
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = null;
    // Cleared first: a notice or resync arriving during the reads asks for another round.
    this.behind = false;
    let recent: ThreadEvent[];
    let through: number;
    let stored: ThreadEvent[];
    try {
      await this.subscription.ready;
      const from = this.position;
      recent = await this.source.pubsub.recent(threadId, from);
      through = await this.source.storedThrough(threadId);
      stored = await this.source.readStored(threadId, from, REPLAY_PAGE_EVENTS);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.finished) return;
    // Live events that arrived during the reads come first: their seqs are below the rows still to use.
    this.page.push(...this.live.splice(0));
    const full = stored.length === REPLAY_PAGE_EVENTS;
    for (const event of stored) if (event.seq > this.position && event.seq <= through) this.consume(event, this.page);
    if (full) {
      this.behind = true;
      return;
    }
    // The log is read to `through`: seqs up to it that were not there are gaps (compacted, skipped).
    this.position = Math.max(this.position, through);
    // Then the recent events, within the memory bound; what does not fit is read next time.
    const room = LIVE_BUFFER_EVENTS + REPLAY_PAGE_EVENTS - this.preface.length;
    let more = false;
    for (const event of recent) {
      if (event.seq <= this.position || this.held.has(event.seq)) continue;
      if (this.page.length + this.held.size >= room) {
        more = true;
        break;
      }
      if (this.held.size === 0 && event.seq === this.position + 1) this.consume(event, this.page);
      else this.hold(event);
    }
    this.drain();
    if (more || this.drops !== drops) this.behind = true;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.live = [];
    this.held = NOTHING_HELD as Map<number, ThreadEvent>;
    if (this.gapTimer) clearTimeout(this.gapTimer);
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.notify();
  }

  private markDrained(): void {
    this.isDrained = true;
    this.resolveDrained?.();
    this.resolveDrained = null;
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
    idleChecks.remove(this);
    wake?.();
  }
}
