import OpenAI from 'openai';
import type { HeadersDeadline } from './headers-deadline.js';
import { isLeanResponse, leanFetch } from './http-fetch.js';

export interface OpenAiProviderOptions {
  apiKey?: string | undefined;
  baseURL?: string | undefined;
  maxRetries: number;
  timeoutMs: number;
  idleTimeoutMs: number;
}

export function createOpenAiClient(opts: OpenAiProviderOptions): OpenAI {
  return new LeanAbortOpenAI({
    // Local OpenAI-compatible servers need no key, but the SDK refuses to start without one.
    apiKey: opts.apiKey ?? 'no-key',
    baseURL: opts.baseURL ?? null,
    maxRetries: opts.maxRetries,
    timeout: opts.timeoutMs,
    fetch: capRetryAfter(opts.timeoutMs),
  });
}

/**
 * What the SDK's own per-request AbortController aborts with. Its `controller.abort()` takes no
 * reason, so every call builds a DOMException with a stack (the default argument is evaluated even
 * when the controller is already aborted), and a run ends with two or three of them: the SDK's
 * stream aborts when the adapter stops reading at the response's end, then its listener on the
 * adapter's signal aborts again when the adapter releases the request. One AbortError, built once,
 * is the same reason to every reader (the SDK and undici only look at its name), and a second abort
 * of an aborted controller does nothing at all, as it did before.
 */
const SDK_ABORTED = new DOMException('This operation was aborted', 'AbortError');

function abortOnce(this: AbortController, reason?: unknown): void {
  if (this.signal.aborted) return;
  AbortController.prototype.abort.call(this, reason === undefined ? SDK_ABORTED : reason);
}

/** The SDK, with its per-request controller's abort() made cheap (abortOnce). */
class LeanAbortOpenAI extends OpenAI {
  protected override fetchWithAuth(
    url: RequestInfo,
    init: RequestInit,
    timeout: number,
    controller: AbortController,
    schemes?: { bearerAuth?: boolean; adminAPIKeyAuth?: boolean },
  ): Promise<Response> {
    controller.abort = abortOnce;
    return super.fetchWithAuth(url, init, timeout, controller, schemes);
  }
}

/** Where a request's fetch init carries its call's headers deadline (the SDK copies fetchOptions into every attempt's init). */
const DEADLINE = Symbol('threadql.headersDeadline');

/**
 * The request options of one stream() call: its Retry-After cap is what is left of that call's
 * headers deadline. Carried in the request's fetch init rather than by a client of its own:
 * `client.withOptions()` builds a whole client (every API resource object) per run, about
 * 0.4 ms of CPU that 50 runs started together each waited behind for their first token.
 */
export function withinDeadline(deadline: HeadersDeadline, signal: AbortSignal): OpenAI.RequestOptions {
  return { signal, fetchOptions: { [DEADLINE]: deadline } as OpenAI.RequestOptions['fetchOptions'] };
}

/**
 * The SDK sleeps for whatever Retry-After says before retrying, without bound; a provider
 * asking for an hour would keep the run (and its thread) busy for an hour. A wait longer than
 * the time left to get an answer (PROVIDER_TIMEOUT_MS, or what is left of the call's headers
 * deadline) is not worth waiting: `x-should-retry: false` makes the SDK fail at once, and the
 * run ends PROVIDER_RATE_LIMITED (or PROVIDER_ERROR for a 5xx) rather than PROVIDER_TIMEOUT
 * after a pointless wait.
 */
function capRetryAfter(timeoutMs: number): typeof fetch {
  return async (input, init) => {
    const response = await leanFetch(input, init);
    if (response.ok) return response;
    const waitMs = retryAfterMs(response.headers);
    const deadline = (init as { [DEADLINE]?: HeadersDeadline } | undefined)?.[DEADLINE];
    if (waitMs === null || waitMs <= (deadline ? deadline.remainingMs() : timeoutMs)) return response;
    // leanFetch's own answers have headers of their own; fetch's (a followed redirect) are immutable.
    if (isLeanResponse(response)) {
      response.headers.set('x-should-retry', 'false');
      return response;
    }
    const headers = new Headers(response.headers);
    headers.set('x-should-retry', 'false');
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}

function retryAfterMs(headers: Headers): number | null {
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.has('retry-after-ms') && Number.isFinite(ms)) return ms;
  const value = headers.get('retry-after');
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : date - Date.now();
}
