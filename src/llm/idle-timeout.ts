import { ProviderError } from './types.js';

/**
 * The SDK's `timeout` only covers the wait for response headers; a body that stalls mid-stream
 * would hang forever. This wraps the SDK stream and fails it after `idleMs` without an item.
 * `onTimeout` must tear the request down (the adapter aborts its internal controller): the
 * pending read is abandoned, not awaited.
 */
export async function* withIdleTimeout<T>(
  source: AsyncIterable<T>,
  idleMs: number,
  onTimeout: () => void,
): AsyncGenerator<T, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    while (true) {
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          onTimeout();
          reject(new ProviderError('PROVIDER_TIMEOUT', `no data from the provider for ${idleMs} ms`));
        }, idleMs);
      });
      // Promise.race subscribes to both, so whichever loses never becomes an unhandled rejection.
      const result = await Promise.race([it.next(), idle]);
      clearTimeout(timer);
      if (result.done) return;
      yield result.value;
    }
  } finally {
    clearTimeout(timer);
    if (timedOut) {
      // A read is still pending; return() would queue behind it, so fire and forget.
      void it.return?.()?.catch(() => {});
    } else {
      await it.return?.();
    }
  }
}
