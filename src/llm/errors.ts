import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from 'openai';
import { ProviderError } from './types.js';

/** Run.error.message is stored and shown to clients: keep it bounded. */
const MAX_MESSAGE_CHARS = 1000;

/**
 * A cancel (cancelRun, interrupt, shutdown) is not a provider failure: the engine asks this
 * before classifying, so aborts are never turned into ProviderErrors by the adapters.
 */
export function isAbortError(err: unknown): boolean {
  return (
    err instanceof APIUserAbortError ||
    (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError')
  );
}

/** The error every adapter throws when the caller's signal ended the request. */
export function abortError(): APIUserAbortError {
  return new APIUserAbortError();
}

/**
 * Classifies anything an adapter caught into the contract's Run.error codes. `secret` (the API
 * key) is scrubbed from the message: providers and proxies sometimes echo the Authorization header.
 */
export function toProviderError(err: unknown, secret?: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const [code, message] = classify(err);
  return new ProviderError(code, scrub(message, secret));
}

function classify(err: unknown): [ProviderError['code'], string] {
  // Order matters: the timeout and connection errors are APIError subclasses without a status.
  if (err instanceof APIConnectionTimeoutError) return ['PROVIDER_TIMEOUT', 'the provider did not answer in time'];
  if (err instanceof APIConnectionError) {
    return ['PROVIDER_ERROR', withCause(`could not reach the provider: ${err.message}`, err.cause)];
  }
  if (err instanceof APIError) {
    if (err.status === 401 || err.status === 403) return ['PROVIDER_AUTH', err.message];
    if (err.status === 429) return ['PROVIDER_RATE_LIMITED', err.message];
    return ['PROVIDER_ERROR', err.message];
  }
  if (err instanceof SyntaxError) return ['PROVIDER_ERROR', `malformed data from the provider: ${err.message}`];
  // undici reports a connection dropped mid-body as `TypeError: terminated` (cause: "other side closed").
  if (err instanceof Error) return ['PROVIDER_ERROR', withCause(`the provider stream broke: ${err.message}`, err.cause)];
  return ['PROVIDER_ERROR', `the provider request failed: ${String(err)}`];
}

function withCause(message: string, cause: unknown): string {
  return cause instanceof Error && cause.message ? `${message} (${cause.message})` : message;
}

function scrub(message: string, secret: string | undefined): string {
  // A very short "key" (a placeholder for a local server) would mangle ordinary words; no real key is that short.
  let out = secret && secret.length >= 8 ? message.split(secret).join('[redacted]') : message;
  // Bearer tokens of any kind (a proxy may echo one that is not our key).
  out = out.replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
  return out.length > MAX_MESSAGE_CHARS ? `${out.slice(0, MAX_MESSAGE_CHARS)}…` : out;
}

/**
 * Rejects with the abort error as soon as `signal` aborts, even while the SDK sleeps between
 * retries (its retry sleep ignores the signal, and a Retry-After can be long).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  promise.catch(() => {}); // its late rejection after an abort is expected and irrelevant
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
