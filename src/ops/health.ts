import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import { ShuttingDownError } from '../errors.js';
import { httpHeadersOf, httpStatusOf } from '../graphql-errors.js';

/**
 * Operations endpoints and the shutdown answer. `GET /health` is yoga's own (200 while the
 * process lives, before CORS and authentication). `GET /ready` says whether this instance
 * should get traffic. Once a stop begins, the listener stays open through the grace period
 * so that load balancers and clients learn why (503 with Retry-After) instead of meeting a
 * refused connection or an error from a database being closed.
 */

/** Set once when the server starts to stop; never cleared (a stopped server does not restart). */
export class Lifecycle {
  #stopping = false;

  get stopping(): boolean {
    return this.#stopping;
  }

  beginStop(): void {
    this.#stopping = true;
  }
}

export interface OpsOptions {
  lifecycle: Lifecycle;
  /** A trivial query; rejects when the database cannot answer. */
  pingDatabase(): Promise<void>;
  /** Rejects when Redis cannot carry live events and shared counters; absent without REDIS_URL. */
  pingRedis?: () => Promise<void>;
  /** Sent as Retry-After while stopping. */
  retryAfterSeconds: number;
  logger: Logger;
}

type CheckResult = 'ok' | string;

/** `/ready`, then the 503 for every other request while stopping. Must come before authentication. */
export function useOpsEndpoints(options: OpsOptions): Plugin[] {
  const { lifecycle, logger } = options;
  const checks = async (): Promise<Record<string, CheckResult>> => {
    let database: CheckResult = 'ok';
    try {
      await options.pingDatabase();
    } catch (err) {
      database = 'not answering';
      // Expected once the stop has closed it; a surprise otherwise.
      if (!lifecycle.stopping) logger.warn({ err }, 'readiness check: the database does not answer');
    }
    const result: Record<string, CheckResult> = { database };
    if (options.pingRedis) result.redis = await checkRedis(options.pingRedis, lifecycle, logger);
    result.shutdown = lifecycle.stopping ? 'shutting down' : 'ok';
    return result;
  };

  return [
    // yoga's useReadinessCheck tests a URLPattern against every request's URL; the path is enough.
    {
      async onRequest({ url, endResponse }) {
        if (url.pathname !== '/ready') return;
        const result = await checks();
        const ready = Object.values(result).every((c) => c === 'ok');
        endResponse(json(ready ? 200 : 503, { status: ready ? 'ok' : 'unavailable', checks: result }));
      },
    },
    {
      onRequest({ endResponse }) {
        if (!lifecycle.stopping) return;
        const error = new ShuttingDownError(options.retryAfterSeconds);
        endResponse(
          json(httpStatusOf(error), { errors: [{ message: error.message, extensions: { code: error.code, ...error.details } }] }, httpHeadersOf(error)),
        );
      },
    },
  ];
}

/** With several instances, an instance that lost Redis would serve subscribers stale data and count limits alone. */
async function checkRedis(ping: () => Promise<void>, lifecycle: Lifecycle, logger: Logger): Promise<CheckResult> {
  try {
    await ping();
    return 'ok';
  } catch (err) {
    if (!lifecycle.stopping) logger.warn({ err: { message: (err as Error).message } }, 'readiness check: redis does not answer');
    return 'not answering';
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}
