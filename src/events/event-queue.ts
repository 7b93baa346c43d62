/**
 * An unbounded async iterator fed by push(). Subscriptions use it so that a replay of many
 * stored events and the live events after it reach the client in order; `return()` (the
 * client went away) runs the cleanup exactly once.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | null = null;
  private closed = false;
  private error: unknown = null;
  private readonly cleanups: (() => void)[] = [];
  private markDrained!: () => void;
  /** Resolves once the consumer has read the end (or went away): nothing is left to deliver. */
  readonly drained = new Promise<void>((resolve) => (this.markDrained = resolve));

  constructor(cleanup?: () => void) {
    if (cleanup) this.cleanups.push(cleanup);
  }

  /**
   * Called when the consumer has read everything queued: may push more (the next page of a
   * replay). Lets a long replay be read page by page instead of loaded at once.
   */
  onDrain: (() => void) | null = null;

  /** Adds work to do once when the stream ends, however it ends. */
  onEnd(cleanup: () => void): void {
    if (this.closed) cleanup();
    else this.cleanups.push(cleanup);
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  /** Ends the stream after the items already pushed. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (this.waiting) {
      const { resolve, reject } = this.waiting;
      this.waiting = null;
      this.markDrained();
      if (this.error) reject(this.error);
      else resolve({ value: undefined, done: true });
    }
  }

  /** Ends the stream with an error (delivered after the items already pushed). */
  fail(error: unknown): void {
    if (this.closed) return;
    this.error = error;
    this.end();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length === 0 && !this.closed) this.onDrain?.();
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.closed) {
      this.markDrained();
      const error = this.error;
      this.error = null;
      return error ? Promise.reject(error) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    this.markDrained();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
