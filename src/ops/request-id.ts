import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';

/**
 * Request ids: every HTTP response carries `x-request-id` (the caller's own when it is sane,
 * else a new one); one log line per request names it, and so does every masked error of the
 * request — in the answer (`extensions.requestId`) and in the log line of its cause.
 *
 * The id travels beside the request (a WeakMap), not in an AsyncLocalStorage: on Node 20 that
 * turns on async hooks for the whole process, which cost ~10% CPU per request here. The
 * error masker cannot see the request, so it hands unexpected causes over (`recordMasked`);
 * the result, which knows its request, names them (`nameInResult`).
 */
export interface RequestInfo {
  id: string;
  logger: Logger;
  /** performance.now() when it began. */
  startedAt: number;
  /** The URL's path, for the log line. */
  path?: string;
}

/** Letters, digits and `._:-` only, at most 128: safe to echo and to put in a log line. */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** A masked cause no answer claimed by then is logged without its request. */
const UNCLAIMED_MS = 2000;

export function requestIdOf(header: string | string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && SANE_ID.test(value) ? value : randomUUID();
}

export class RequestIds {
  readonly #requests = new WeakMap<Request, RequestInfo>();
  readonly #upgrades = new WeakMap<IncomingMessage, RequestInfo>();
  readonly #causes = new Map<object, { cause: unknown; timer: NodeJS.Timeout }>();

  constructor(private readonly logger: Logger) {}

  /** Whether the per-request line is written at all (LOG_LEVEL above info: skip building it). */
  get logsRequests(): boolean {
    return this.logger.isLevelEnabled('info');
  }

  /** The request's id and logger, chosen the first time it is asked for. */
  of(request: Request): RequestInfo {
    let info = this.#requests.get(request);
    if (!info) this.#requests.set(request, (info = this.#info(request.headers.get('x-request-id'))));
    return info;
  }

  /** A WebSocket's, from its upgrade request: the 101 answer names it, and its operations use it. */
  ofSocket(upgrade: IncomingMessage): RequestInfo {
    let info = this.#upgrades.get(upgrade);
    if (!info) this.#upgrades.set(upgrade, (info = this.#info(upgrade.headers['x-request-id'])));
    return info;
  }

  /** `masked` answers the unexpected `cause`: logged once the answer names its request. */
  recordMasked(masked: Error, cause: unknown): void {
    const timer = setTimeout(() => this.#logCause(masked, this.logger), UNCLAIMED_MS);
    timer.unref();
    this.#causes.set(masked, { cause, timer });
  }

  /** The result (or each result of a stream) with its masked errors naming the request, their causes logged. */
  nameInResult<T>(result: T, info: RequestInfo): T {
    if (isAsyncIterable(result)) return new NamedResults(result[Symbol.asyncIterator](), this, info) as T;
    return this.name(result, info);
  }

  /** One result (of a stream) with its masked errors naming the request. */
  name<T>(result: T, info: RequestInfo): T {
    if (!result || typeof result !== 'object') return result;
    const r = result as { errors?: readonly unknown[]; incremental?: readonly { errors?: readonly unknown[] }[] };
    // Checked first: most results (every event of a stream) have no errors and need nothing built.
    if (!r.errors && !r.incremental?.some((part) => part.errors)) return result;
    const fix = (errors: readonly unknown[] | undefined) => errors?.map((e) => this.#nameError(e, info));
    return {
      ...r,
      ...(r.errors && { errors: fix(r.errors) }),
      ...(r.incremental && { incremental: r.incremental.map((part) => (part.errors ? { ...part, errors: fix(part.errors) } : part)) }),
    } as T;
  }

  #nameError(error: unknown, info: RequestInfo): unknown {
    if (typeof error === 'object' && error !== null) this.#logCause(error, info.logger);
    if (!(error instanceof GraphQLError) || error.extensions?.code !== 'INTERNAL_SERVER_ERROR') return error;
    return new GraphQLError(error.message, { nodes: error.nodes, path: error.path, extensions: { ...error.extensions, requestId: info.id } });
  }

  #logCause(masked: object, logger: Logger): void {
    const entry = this.#causes.get(masked);
    if (!entry) return;
    this.#causes.delete(masked);
    clearTimeout(entry.timer);
    logger.error({ err: entry.cause }, 'unexpected error (masked in the response)');
  }

  /** The request line, through the root logger with the id: the same line as its child's, without a child per request. */
  logRequest(info: RequestInfo, fields: Record<string, unknown>): void {
    this.logger.info({ reqId: info.id, ...fields }, 'request');
  }

  #info(header: string | string[] | null | undefined): RequestInfo {
    return new LazyRequestInfo(requestIdOf(header), this.logger);
  }
}

/** The request's child logger is built when something logs with it (most requests never do: an open stream holds its info as long as it lasts). */
class LazyRequestInfo implements RequestInfo {
  readonly startedAt = performance.now();
  path?: string;
  #logger: Logger | undefined;

  constructor(
    readonly id: string,
    private readonly root: Logger,
  ) {}

  get logger(): Logger {
    return (this.#logger ??= this.root.child({ reqId: this.id }));
  }
}

/**
 * Each result of a stream named, with return() passed straight on (a client leaving ends the
 * source at once). Leaner than yoga's mapAsyncIterator, which wraps every result in several
 * promise-likes: this runs for every event of every subscription, and an open stream holds it
 * (one object, no closures). A naming that throws ends the source, then rejects, as
 * mapAsyncIterator does.
 */
class NamedResults<T> implements AsyncIterableIterator<T> {
  constructor(
    private readonly source: AsyncIterator<T>,
    private readonly ids: RequestIds,
    private readonly info: RequestInfo,
  ) {}

  next(): Promise<IteratorResult<T>> {
    return this.source.next().then((step) => this.mapped(step));
  }

  return(): Promise<IteratorResult<T>> {
    return this.source.return?.() ?? Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<T>> {
    if (this.source.throw) return this.source.throw(error).then((step) => this.mapped(step));
    return this.endThenReject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private mapped(step: IteratorResult<T>): IteratorResult<T> | Promise<IteratorResult<T>> {
    if (step.done) return step;
    try {
      return { value: this.ids.name(step.value, this.info), done: false };
    } catch (error) {
      return this.endThenReject(error);
    }
  }

  private endThenReject(error: unknown): Promise<IteratorResult<T>> {
    const rethrow = () => Promise.reject(error);
    return this.source.return ? this.source.return().then(rethrow, rethrow) : rethrow();
  }
}

/**
 * First plugin of all: the id is chosen before anything else runs, set on every response
 * (early ones too: health, 413, 401, 503), and one log line per request ends it. The line
 * holds method, path, status and time — never a body.
 */
export function useRequestIds(ids: RequestIds): Plugin {
  return {
    onRequest({ request, url }) {
      const info = ids.of(request);
      // yoga parses the URL for its routes anyway; the log line reuses its path.
      if (ids.logsRequests) info.path = url.pathname;
    },
    onResultProcess({ request, result, setResult }) {
      setResult(ids.nameInResult(result, ids.of(request)));
    },
    onResponse({ request, response }) {
      const info = ids.of(request);
      response.headers.set('x-request-id', info.id);
      if (!ids.logsRequests) return;
      ids.logRequest(
        info,
        {
          method: request.method,
          path: info.path ?? new URL(request.url, 'http://localhost').pathname,
          status: response.status,
          ms: Math.round((performance.now() - info.startedAt) * 10) / 10,
          stream: response.headers.get('content-type')?.startsWith('text/event-stream') || undefined,
        },
      );
    },
  };
}
