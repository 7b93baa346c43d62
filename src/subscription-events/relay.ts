/**
 * The source stream a subscription field hands the executor, with a side door for the fast
 * path (fast-events.ts): the executor's per-event pipeline keeps reading it as before, unless
 * the fast path reads the events itself; then it hands the executor only the events (and the
 * end or the error) it does not project itself, one next() at a time, so the executor answers
 * those exactly as it would have.
 */
export class EventRelay<T> implements AsyncIterableIterator<T> {
  private handed: Promise<IteratorResult<T>> | null = null;

  constructor(readonly source: AsyncIterator<T>) {}

  next(): Promise<IteratorResult<T>> {
    const handed = this.handed;
    if (!handed) return this.source.next();
    this.handed = null;
    return handed;
  }

  return(): Promise<IteratorResult<T>> {
    return this.source.return?.() ?? Promise.resolve({ value: undefined, done: true });
  }

  /** What the executor's next read of this stream returns (a step the fast path read from the source). */
  hand(step: Promise<IteratorResult<T>>): void {
    this.handed = step;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** The relays of the subscriptions being set up, by their operation's context (one context per operation). */
const relays = new WeakMap<object, EventRelay<unknown>>();

/** A subscription field's `subscribe` returns its stream through this: the fast path may then read it directly. */
export function relayed<T>(context: object, stream: AsyncIterator<T>): EventRelay<T> {
  const relay = new EventRelay(stream);
  relays.set(context, relay as EventRelay<unknown>);
  return relay;
}

/** The relay the operation's subscribe resolver returned, once (undefined: the field does not relay). */
export function takeRelay(context: object): EventRelay<unknown> | undefined {
  const relay = relays.get(context);
  relays.delete(context);
  return relay;
}

/**
 * The `resolve` of a relayed subscription field: the field's value is the event itself. The
 * fast path projects events only for fields resolved by this very function.
 */
export function passEvent<T>(event: T): T {
  return event;
}
