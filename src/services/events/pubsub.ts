import type { ThreadEvent } from './types.js';

/**
 * What a subscriber hears about one thread. Live delivery is a hint, never the authority: the
 * stored log is. Events may arrive twice (an echo through Redis of a local publish), out of
 * order across instances, or not at all (Redis down); a receiver keeps the highest seq it
 * delivered, drops every seq at or below it, and fills gaps from the database (LogStream).
 */
export interface ThreadListener {
  /** A published event, possibly not stored yet (a writer's streamed deltas). */
  event(event: ThreadEvent): void;
  /** Every seq <= through on the thread is final in the database (a commit or flush landed). */
  stored?(through: number): void;
  /**
   * Live delivery was interrupted (Redis reconnected, or is down: then repeated while it is):
   * events may have been missed, catch up from the database and recent().
   */
  resync?(): void;
}

/** One listener's subscription to one thread. */
export interface Subscription {
  /**
   * Resolves once live delivery is in place (Redis: the SUBSCRIBE is acknowledged), so that a
   * read of the store started after it misses nothing: what is published later arrives live.
   * Never rejects; when Redis is down it resolves anyway and resync() follows.
   */
  readonly ready: Promise<void>;
  /** Removes the listener; calling it twice is harmless. */
  unsubscribe(): void;
}

/**
 * Messages to every instance (the sender included), for work only one instance can do: the
 * instance executing a run cancels it, every instance ends its own streams of a deleted thread
 * or of a revoked key, a free instance starts queued runs. Best effort: a lost message must
 * only cost latency (each has a durable fallback in the database), never correctness.
 */
export type ControlMessage =
  | { type: 'cancel-run'; runId: string; threadId?: string }
  | { type: 'thread-deleted'; threadId: string }
  | { type: 'key-revoked'; keyId: string }
  /** Queued runs may start (a thread's run ended, or a run was queued). */
  | { type: 'wake'; threadId?: string }
  /** The thread's writer should store its pending deltas now (a foreign write waits on it). */
  | { type: 'flush'; threadId: string };

export type ControlHandler = (message: ControlMessage) => void;

/**
 * Live fan-out of thread events, and control messages between instances. One process:
 * InMemoryPubSub. Several instances: RedisPubSub (redis-pubsub.ts), same contract.
 *
 * Publishing never throws and never waits: storage and runs must not depend on the bus.
 */
export interface PubSub {
  /** A live event, possibly not stored yet (a writer's deltas are published before they are stored). */
  publish(event: ThreadEvent): void;
  /** Every seq <= through on the thread is final in the database: listeners' stored(), and recent() forgets them. */
  publishStored(threadId: string, through: number): void;
  subscribe(threadId: string, listener: ThreadListener): Subscription;
  /**
   * Published events with seq > after that may not be stored yet, oldest first (at most those
   * published since the thread's last publishStored covering them; bounded). A subscriber reads
   * it BEFORE reading the store: an event is then in one of the two, or published after and
   * delivered live. Never rejects: with the bus unreachable it resolves [] and resync() follows.
   */
  recent(threadId: string, after: number): Promise<ThreadEvent[]>;
  /** To every instance, this one included (its handlers run on a later tick, never inside the call). */
  sendControl(message: ControlMessage): Promise<void>;
  /** Returns the function that removes the handler. */
  onControl(handler: ControlHandler): () => void;
  /** Resolves when the bus can deliver (Redis: connected, control channel subscribed); start-up waits for it. */
  ready(): Promise<void>;
  /** Rejects when the bus cannot deliver now (readiness). */
  ping(): Promise<void>;
  /** Live listeners across all threads (leak checks, metrics). */
  listenerCount(): number;
  close(): Promise<void>;
}

/** Threads whose recent events saw no publish this long are forgotten (a run that never stored its end). */
export const RECENT_IDLE_MS = 10 * 60_000;
/** At most this many recent events per thread (a writer's unstored window is far smaller). */
export const RECENT_MAX_EVENTS = 4096;

/** Recent (maybe unstored) events per thread, trimmed by stored notices; shared by both implementations' local side. */
export class RecentEvents {
  private readonly threads = new Map<string, { events: ThreadEvent[]; touchedAt: number }>();
  private sweptAt = Date.now();

  add(event: ThreadEvent, now = Date.now()): void {
    let tail = this.threads.get(event.threadId);
    if (!tail) this.threads.set(event.threadId, (tail = { events: [], touchedAt: now }));
    tail.touchedAt = now;
    const events = tail.events;
    // Seqs of one thread are published in order by its writer; a foreign write may land in between.
    let at = events.length;
    while (at > 0 && events[at - 1]!.seq > event.seq) at--;
    if (events[at - 1]?.seq === event.seq) return;
    if (at === events.length) events.push(event);
    else events.splice(at, 0, event);
    if (events.length > RECENT_MAX_EVENTS) events.splice(0, events.length - RECENT_MAX_EVENTS);
    if (now - this.sweptAt > 60_000) this.sweep(now);
  }

  stored(threadId: string, through: number): void {
    const tail = this.threads.get(threadId);
    if (!tail) return;
    const keep = tail.events.findIndex((e) => e.seq > through);
    if (keep === -1) this.threads.delete(threadId);
    else tail.events.splice(0, keep);
  }

  after(threadId: string, after: number): ThreadEvent[] {
    return (this.threads.get(threadId)?.events ?? []).filter((e) => e.seq > after);
  }

  forget(threadId: string): void {
    this.threads.delete(threadId);
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [threadId, tail] of this.threads) if (now - tail.touchedAt > RECENT_IDLE_MS) this.threads.delete(threadId);
  }
}

/** Listeners per thread, in this process. */
export class LocalListeners {
  private readonly byThread = new Map<string, Set<ThreadListener>>();
  private count = 0;

  /** `onEmpty` runs when the thread's last listener goes. */
  add(threadId: string, listener: ThreadListener, onEmpty?: () => void): () => void {
    let set = this.byThread.get(threadId);
    if (!set) this.byThread.set(threadId, (set = new Set()));
    set.add(listener);
    this.count++;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.count--;
      set.delete(listener);
      if (set.size === 0 && this.byThread.get(threadId) === set) {
        this.byThread.delete(threadId);
        onEmpty?.();
      }
    };
  }

  has(threadId: string): boolean {
    return this.byThread.has(threadId);
  }

  threadIds(): string[] {
    return [...this.byThread.keys()];
  }

  /** Calls `deliver` for each listener of the thread; one listener's exception does not starve the others. */
  each(threadId: string, deliver: (listener: ThreadListener) => void): void {
    const set = this.byThread.get(threadId);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        deliver(listener);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  /**
   * each() with `event` for every listener: what a publish does, once per event of every
   * stream, so without a closure per event, nor a copy of the set when it has one listener.
   */
  event(event: ThreadEvent): void {
    const set = this.byThread.get(event.threadId);
    if (!set) return;
    // One listener: called directly (one subscribed by it meanwhile gets the next event, not this one, as with a copy).
    for (const listener of set.size === 1 ? [set.values().next().value!] : [...set]) {
      try {
        listener.event(event);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  all(deliver: (listener: ThreadListener) => void): void {
    for (const threadId of this.threadIds()) this.each(threadId, deliver);
  }

  size(): number {
    return this.count;
  }
}

/** A listener's or handler's exception, thrown where it stops nothing else (an uncaught exception). */
function rethrowLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** Local control handlers; each message reaches them on a later tick. */
export class ControlHandlers {
  private readonly handlers = new Set<ControlHandler>();

  add(handler: ControlHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  dispatch(message: ControlMessage): void {
    setImmediate(() => {
      for (const handler of [...this.handlers]) {
        try {
          handler(message);
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    });
  }
}

/** One process: listeners are called synchronously inside publish(). */
export class InMemoryPubSub implements PubSub {
  private readonly listeners = new LocalListeners();
  private readonly recentEvents = new RecentEvents();
  private readonly control = new ControlHandlers();

  constructor() {
    this.control.add((message) => {
      if (message.type === 'thread-deleted') this.recentEvents.forget(message.threadId);
    });
  }

  publish(event: ThreadEvent): void {
    this.recentEvents.add(event);
    this.listeners.event(event);
  }

  publishStored(threadId: string, through: number): void {
    this.recentEvents.stored(threadId, through);
    this.listeners.each(threadId, (l) => l.stored?.(through));
  }

  subscribe(threadId: string, listener: ThreadListener): Subscription {
    return { ready: Promise.resolve(), unsubscribe: this.listeners.add(threadId, listener) };
  }

  recent(threadId: string, after: number): Promise<ThreadEvent[]> {
    return Promise.resolve(this.recentEvents.after(threadId, after));
  }

  sendControl(message: ControlMessage): Promise<void> {
    this.control.dispatch(message);
    return Promise.resolve();
  }

  onControl(handler: ControlHandler): () => void {
    return this.control.add(handler);
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  listenerCount(): number {
    return this.listeners.size();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
