/** What waits for an idle check: a stream with nothing to send (log-stream.ts). */
export interface IdleWaiter {
  /** The wait is over with nothing having woken it: check the stored log now. */
  idleCheck(): void;
  /** Links in the queue (owned by IdleChecks). */
  idlePrev: IdleWaiter | null;
  idleNext: IdleWaiter | null;
  idleDue: number;
  idleQueued: boolean;
}

/**
 * One timer for every idle stream's backstop check, instead of a Timeout (and its closures)
 * per stream: thousands of idle subscriptions each held one. Every wait is the same length,
 * so the waiters, queued in the order they began, are also in the order they are due: a
 * linked list through the waiters themselves (nothing allocated per wait), and one timer for
 * its head. A waiter leaves in O(1) when something wakes it first.
 */
export class IdleChecks {
  private head: IdleWaiter | null = null;
  private tail: IdleWaiter | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer is due: once it fired, that moment has come (a clock the timers drive, as fake timers do in tests). */
  private timerDue = 0;

  constructor(private readonly waitMs: number) {}

  add(waiter: IdleWaiter): void {
    if (waiter.idleQueued) this.remove(waiter);
    waiter.idleQueued = true;
    waiter.idleDue = Date.now() + this.waitMs;
    waiter.idlePrev = this.tail;
    waiter.idleNext = null;
    if (this.tail) this.tail.idleNext = waiter;
    else this.head = waiter;
    this.tail = waiter;
    if (!this.timer) this.arm(this.waitMs);
  }

  remove(waiter: IdleWaiter): void {
    if (!waiter.idleQueued) return;
    waiter.idleQueued = false;
    if (waiter.idlePrev) waiter.idlePrev.idleNext = waiter.idleNext;
    else this.head = waiter.idleNext;
    if (waiter.idleNext) waiter.idleNext.idlePrev = waiter.idlePrev;
    else this.tail = waiter.idlePrev;
    waiter.idlePrev = waiter.idleNext = null;
    // Nothing left to wait for: no timer either (the armed one stays for a new head, which is later).
    if (!this.head && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Waiters queued (tests). */
  size(): number {
    let n = 0;
    for (let w = this.head; w; w = w.idleNext) n++;
    return n;
  }

  private arm(delayMs: number): void {
    this.timerDue = Date.now() + delayMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, delayMs));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = Math.max(Date.now(), this.timerDue);
    let due: IdleWaiter[] | null = null;
    while (this.head && this.head.idleDue <= now) {
      const waiter = this.head;
      this.remove(waiter);
      (due ??= []).push(waiter);
    }
    if (this.head && !this.timer) this.arm(this.head.idleDue - now);
    // After the queue is consistent: a check may queue its waiter again.
    if (due) for (const waiter of due) waiter.idleCheck();
  }
}
