import { ProviderError } from './types.js';

/** The wait is checked this many times per idle timeout: it strikes within 1 + 1/CHECKS of it. */
const CHECKS = 4;

/**
 * The SDK's `timeout` only covers the wait for response headers; a body that stalls mid-stream
 * would hang forever. This timer fails it after `idleMs` without an item: `onTimeout` must
 * tear the request down (the adapter aborts its internal controller), which ends the SDK's
 * pending read (its stream ends quietly, or throws); the adapter then reports `error()`.
 *
 * An item costs one increment (touch()): no race against a timeout promise, no wrapping
 * iterator, not even a timer refresh per token on the hottest path there is. One timer per
 * stream ticks CHECKS times per idle timeout and strikes at the first tick that ends CHECKS
 * quiet intervals in a row: between idleMs and idleMs × (1 + 1/CHECKS) after the last item.
 */
export class IdleTimer {
  /** The timer struck: the request was torn down for want of data. */
  expired = false;
  /** Items so far (touch()); the timer compares it tick to tick. */
  private items = 0;
  private seen = 0;
  private quiet = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly idleMs: number,
    onTimeout: () => void,
  ) {
    this.timer = setInterval(() => {
      if (this.items !== this.seen) {
        this.seen = this.items;
        this.quiet = 0;
        return;
      }
      if (++this.quiet < CHECKS) return;
      this.expired = true;
      clearInterval(this.timer);
      onTimeout();
    }, Math.max(1, Math.ceil(idleMs / CHECKS)));
  }

  /** An item arrived: the wait starts again. */
  touch(): void {
    this.items++;
  }

  clear(): void {
    clearInterval(this.timer);
  }

  /** What the stream fails with once the timer struck. */
  error(): ProviderError {
    return new ProviderError('PROVIDER_TIMEOUT', `no data from the provider for ${this.idleMs} ms`);
  }
}
