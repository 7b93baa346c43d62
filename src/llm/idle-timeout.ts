import { ProviderError } from './types.js';

/**
 * The SDK's `timeout` only covers the wait for response headers; a body that stalls mid-stream
 * would hang forever. This timer fails it after `idleMs` without an item: `onTimeout` must
 * tear the request down (the adapter aborts its internal controller), which ends the SDK's
 * pending read (its stream ends quietly, or throws); the adapter then reports `error()`.
 *
 * One timer per stream, refreshed at each item (touch()), and nothing else per item: no race
 * against a timeout promise and no wrapping iterator, each of which costs promises and
 * microtask turns per token on the hottest path there is.
 */
export class IdleTimer {
  /** The timer struck: the request was torn down for want of data. */
  expired = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly idleMs: number,
    onTimeout: () => void,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      onTimeout();
    }, idleMs);
  }

  /** An item arrived: the wait starts again. */
  touch(): void {
    // refresh() would arm a timer that struck again.
    if (!this.expired) this.timer.refresh();
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  /** What the stream fails with once the timer struck. */
  error(): ProviderError {
    return new ProviderError('PROVIDER_TIMEOUT', `no data from the provider for ${this.idleMs} ms`);
  }
}
