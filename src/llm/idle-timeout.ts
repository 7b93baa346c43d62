import { ProviderError } from './types.js';

/**
 * The SDK's `timeout` only covers the wait for response headers; a body that stalls mid-stream
 * would hang forever. This wraps the SDK stream and fails it after `idleMs` without an item.
 * `onTimeout` must tear the request down (the adapter aborts its internal controller): the
 * pending read is abandoned, not awaited.
 *
 * One timer per stream, refreshed at each item: streams are hot paths (one item per token).
 */
export async function* withIdleTimeout<T>(
  source: AsyncIterable<T>,
  idleMs: number,
  onTimeout: () => void,
): AsyncGenerator<T, void, undefined> {
  const it = source[Symbol.asyncIterator]();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      onTimeout();
      reject(new ProviderError('PROVIDER_TIMEOUT', `no data from the provider for ${idleMs} ms`));
    }, idleMs);
  });
  idle.catch(() => {}); // raced below; never an unhandled rejection when the stream ends first
  try {
    while (true) {
      const result = await Promise.race([it.next(), idle]);
      if (result.done) return;
      timer!.refresh();
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
