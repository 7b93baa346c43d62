/**
 * An unbounded async iterator fed by push(). Subscriptions use it so that a replay of many
 * stored events and the live events after it reach the client in order; `return()` (the
 * client went away) runs the cleanup exactly once.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private closed = false;

  constructor(private readonly cleanup: () => void) {}

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  /** Ends the stream after the items already pushed. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.cleanup();
    if (this.waiting && this.items.length === 0) {
      this.waiting({ value: undefined, done: true });
      this.waiting = null;
    }
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
