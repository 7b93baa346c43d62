import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';

/**
 * Request ids: every HTTP response carries `x-request-id` (the caller's own when it is sane,
 * else a new one), and whatever is logged while the request is handled names it. The id and
 * the request's child logger travel in an AsyncLocalStorage, so that code far from the request
 * (the error masker, yoga's own logger) finds them without being handed them.
 */
export interface RequestInfo {
  id: string;
  logger: Logger;
  /** performance.now() when it began. */
  startedAt: number;
}

export class RequestScope {
  readonly #storage = new AsyncLocalStorage<RequestInfo>();

  constructor(private readonly logger: Logger) {}

  /** The request being handled, if any. */
  get current(): RequestInfo | undefined {
    return this.#storage.getStore();
  }

  /** The logger of the request being handled, else the server's. */
  get log(): Logger {
    return this.current?.logger ?? this.logger;
  }

  /** Runs `work` as part of the request with this id. */
  run<T>(id: string, work: () => T): T {
    return this.#storage.run({ id, logger: this.logger.child({ reqId: id }), startedAt: performance.now() }, work);
  }
}

/** Letters, digits and `._:-` only, at most 128: safe to echo and to put in a log line. */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(header: string | string[] | null | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && SANE_ID.test(value) ? value : randomUUID();
}

const upgradeIds = new WeakMap<IncomingMessage, string>();

/** A WebSocket's id, from its upgrade request: the 101 answer names it, and its operations log with it. */
export function socketRequestId(request: IncomingMessage): string {
  let id = upgradeIds.get(request);
  if (!id) upgradeIds.set(request, (id = requestIdOf(request.headers['x-request-id'])));
  return id;
}

/**
 * First plugin of all: the id is chosen before anything else runs, set on every response
 * (early ones too: health, 413, 401, 503), and one log line per request ends it. The line
 * holds method, path, status and time — never a body.
 */
export function useRequestIds(scope: RequestScope): Plugin {
  return {
    instrumentation: {
      request: ({ request }, handle) => scope.run(requestIdOf(request.headers.get('x-request-id')), handle),
    },
    onResponse({ request, response }) {
      const info = scope.current;
      if (!info) return;
      response.headers.set('x-request-id', info.id);
      const url = new URL(request.url, 'http://localhost');
      info.logger.info(
        {
          method: request.method,
          path: url.pathname,
          status: response.status,
          ms: Math.round((performance.now() - info.startedAt) * 10) / 10,
          stream: response.headers.get('content-type')?.startsWith('text/event-stream') || undefined,
        },
        'request',
      );
    },
  };
}
