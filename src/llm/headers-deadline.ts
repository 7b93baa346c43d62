import { ProviderError } from './types.js';

/**
 * PROVIDER_TIMEOUT_MS is one budget for the whole wait for the provider's response headers,
 * retries and their backoff included. The SDK's own `timeout` is per attempt, so with
 * retries a provider that never answers would hold the run for (retries + 1) × the timeout,
 * plus the sleeps between attempts. Started when an adapter's stream() begins, cleared once
 * the headers are in (the idle timeout takes over from there).
 */
export interface HeadersDeadline {
  /** True once the budget ran out (and `onExpire` was called). */
  readonly expired: boolean;
  /** What is left of the budget, in ms (0 once expired). */
  remainingMs(): number;
  clear(): void;
}

/** `onExpire` must tear the request down (the adapter aborts its internal controller). */
export function startHeadersDeadline(ms: number, onExpire: () => void): HeadersDeadline {
  const endsAt = Date.now() + ms;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    onExpire();
  }, ms);
  return {
    get expired() {
      return expired;
    },
    remainingMs: () => Math.max(0, endsAt - Date.now()),
    clear: () => clearTimeout(timer),
  };
}

export function headersTimeoutError(ms: number): ProviderError {
  return new ProviderError('PROVIDER_TIMEOUT', `the provider did not answer within ${ms} ms (retries included)`);
}
