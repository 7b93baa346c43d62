import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';

/**
 * Idle connections are closed after 4 s (or sooner, as the provider's Keep-Alive hint asks), as
 * undici's are: servers close idle ones too, and one closed as it is reused fails its request.
 */
const KEEP_ALIVE = { keepAlive: true, timeout: 4000 };
const httpAgent = new HttpAgent(KEEP_ALIVE);
const httpsAgent = new HttpsAgent(KEEP_ALIVE);

/**
 * The provider's transport: the SDK's `fetch`, over node:http with keep-alive, instead of the
 * global (undici) fetch. undici's fetch builds a Request, a body ReadableStream it reads back
 * through an async generator, a response byte stream and the fetch controllers around them:
 * ~350 µs of CPU per call against ~50 for the same exchange over node:http (the bench provider,
 * 12 events), about a tenth of what threadql spends on a whole run.
 *
 * Only what the SDK uses of a Response is answered (status, headers, url, an async-iterable
 * body, text/json), with fetch's failure shapes: a request that cannot be sent or answered
 * rejects with `TypeError('fetch failed', { cause })`, an aborted one with the signal's reason;
 * a body cut short throws from its reads (undici's `terminated` is node's `aborted` here).
 * `fetch` itself answers what this does not: a body that is not a string (a stream), a redirect
 * (the 3xx is dropped and the request sent again, redirects followed), other schemes.
 */
export function leanFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : null;
  const body = init?.body;
  const https = url?.startsWith('https:') ?? false;
  if (url === null || (!https && !url.startsWith('http:')) || (body != null && typeof body !== 'string') || init?.redirect !== undefined) {
    return fetch(input, init);
  }
  const signal = init?.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    let lean: LeanResponse | undefined;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = () => {
      const reason = abortReason(signal!);
      if (!settled) {
        fail(reason);
        req.destroy();
      } else lean?.abort(reason);
    };
    const headers: Record<string, string> = {};
    (init?.headers instanceof Headers ? init.headers : new Headers(init?.headers)).forEach((value, name) => (headers[name] = value));
    if (body != null) headers['content-length'] = String(Buffer.byteLength(body));
    let req: ClientRequest;
    // One resend at most: a reset that came after the provider had the request would otherwise repeat a generation unbounded by maxRetries.
    let resent = false;
    const send = (): void => {
      try {
        req = (https ? httpsRequest : httpRequest)({ ...targetOf(url), method: init?.method ?? 'GET', headers, agent: https ? httpsAgent : httpAgent });
      } catch (err) {
        return fail(new TypeError('fetch failed', { cause: err }));
      }
      const sent = req;
      sent.on('error', (err: NodeJS.ErrnoException) => {
        // A kept connection the provider had closed, found as it was reused: nothing was answered,
        // so the request goes again (what node's docs advise for reusedSocket). Each such failure
        // takes a dead connection out of the pool; a new connection is never retried here.
        if (!settled && !resent && sent.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          resent = true;
          return send();
        }
        fail(new TypeError('fetch failed', { cause: err }));
      });
      sent.on('response', (response) => {
        if (settled) return void response.destroy();
        const status = response.statusCode ?? 0;
        if (status >= 300 && status < 400 && response.headers.location !== undefined) {
          // The redirect is fetch's to follow: this request carried nothing else.
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          response.destroy();
          resolve(fetch(input, init));
          return;
        }
        settled = true;
        lean = new LeanResponse(url, response, () => signal?.removeEventListener('abort', onAbort));
        resolve(lean as unknown as Response);
      });
      sent.end(body ?? undefined);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    send();
  });
}

/** A URL's request options, parsed once: a provider's calls go to a handful of URLs. */
const targets = new Map<string, RequestOptions>();

function targetOf(url: string): RequestOptions {
  let target: RequestOptions | undefined = targets.get(url);
  if (target === undefined) {
    const u = new URL(url);
    const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    target = {
      protocol: u.protocol,
      hostname,
      port: u.port || (u.protocol === 'https:' ? 443 : 80),
      path: u.pathname + u.search,
      // What the agent would work out per request: the TLS server name (none for an IP address).
      servername: isIP(hostname) ? '' : hostname,
      ...(u.username || u.password ? { auth: `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` } : {}),
    };
    if (targets.size < 64) targets.set(url, target);
  }
  return target;
}

/** Whether `response` is one of leanFetch's own (its headers may be changed), not fetch's. */
export function isLeanResponse(response: Response): boolean {
  return (response as unknown) instanceof LeanResponse;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** How long the rest of a body its reader left is waited for, its connection kept if it comes. */
const DRAIN_MS = 100;

/** What reads of a body after its reader returned fail with (none should come). */
const RETURNED = { reason: new TypeError('Body is unusable: its reader returned') };

/** What the SDK reads of a Response (see leanFetch). */
class LeanResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  readonly redirected = false;
  readonly type = 'basic';
  readonly body: LeanBody;

  constructor(
    readonly url: string,
    res: IncomingMessage,
    done: () => void,
  ) {
    this.status = res.statusCode ?? 0;
    this.statusText = res.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status < 300;
    const headers = new Headers();
    const raw = res.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
    this.headers = headers;
    this.body = new LeanBody(res, done);
  }

  get bodyUsed(): boolean {
    return this.body.used;
  }

  abort(reason: unknown): void {
    this.body.abort(reason);
  }

  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.body) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

/**
 * The response body, read once as an async iterable of Buffers. Stopped early (the SDK's stream
 * returns once the answer is complete), it lets the rest of the body drain, so the connection
 * goes back to the pool (a body still arriving after DRAIN_MS is destroyed with its connection).
 * An abort destroys a body still arriving at once, as fetch would, and fails the reads that
 * follow with its reason.
 */
class LeanBody implements AsyncIterable<Buffer> {
  used = false;
  private ended = false;
  private failure: { reason: unknown } | null = null;
  private iterator: AsyncIterator<Buffer> | null = null;

  constructor(
    private readonly res: IncomingMessage,
    private readonly done: () => void,
  ) {
    res.once('end', () => this.finish());
    res.once('close', () => this.finish());
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.done();
  }

  abort(reason: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = { reason };
    this.release(reason);
  }

  /** Frees the connection: a complete body is drained, an incomplete one destroyed. */
  private release(reason?: unknown): void {
    const res = this.res;
    if (res.complete) {
      if (this.iterator) void this.iterator.return?.().then(() => res.resume(), () => undefined);
      else res.resume();
    } else res.destroy(reason instanceof Error ? reason : undefined);
    this.finish();
  }

  /**
   * A reader that stops before the body's end is the SDK's stream at the answer's last event
   * (the adapters abort their signal for anything else, which destroys the response at once):
   * the end of the body is usually a moment behind. Drained for that moment, the connection is
   * kept for the next call (a new TLS connection costs far more); still open after it, it is
   * destroyed, as fetch would have at once.
   */
  private drainBriefly(): void {
    const res = this.res;
    const timer = setTimeout(() => res.destroy(), DRAIN_MS);
    timer.unref();
    res.once('end', () => clearTimeout(timer));
    res.once('close', () => clearTimeout(timer));
    res.resume();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    this.used = true;
    const it = (this.iterator = this.res.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>);
    const self: AsyncIterator<Buffer> & AsyncIterable<Buffer> = {
      next: () => (this.failure ? Promise.reject(this.failure.reason) : it.next()),
      return: async () => {
        if (!this.ended) {
          this.failure ??= RETURNED;
          await it.return?.();
          if (this.res.complete) this.res.resume();
          else this.drainBriefly();
          this.finish();
        } else await it.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => self,
    };
    return self;
  }
}
