import { Hono, type Context as HonoContext } from 'hono';
import type { Caller } from '../auth/access.js';
import { ShuttingDownError } from '../errors.js';
import type { Loaders } from '../services/loaders.js';
import type { Services } from '../services/index.js';
import { BodyTooLargeError, readJson } from './body.js';
import { errorResponse, invalid, toWireError, type BusyContext } from './errors.js';
import { objectBody } from './inputs.js';
import { assistantRoutes, threadRoutes } from './routes-objects.js';
import { runRoutes } from './routes-runs.js';

/**
 * The Assistants API v2 under /v1 (Hono: a small router on the Fetch API, like yoga). Each
 * route parses OpenAI's request, calls one service and answers OpenAI's object; errors answer
 * OpenAI's envelope. Authentication, rate limits and owners are the GraphQL surface's.
 */

export type Env = {
  Variables: { caller: Caller; loaders: Loaders; busy: BusyContext };
};
export type Ctx = HonoContext<Env>;

export interface RestDeps {
  services: Services;
  /** True once the server is stopping: 503 with Retry-After. */
  stopping(): boolean;
  retryAfterSeconds: number;
  onUnexpected(error: unknown): void;
}

/** Run reads tell the SDK's poll helpers how long to wait (else they wait 5 s). */
export const POLL_AFTER_MS = '250';

export function createRestRouter(deps: RestDeps): Hono<Env> {
  const { services } = deps;
  const app = new Hono<Env>().basePath('/v1');

  app.use('*', async (c, next) => {
    if (deps.stopping()) throw new ShuttingDownError(deps.retryAfterSeconds);
    const beta = c.req.header('openai-beta');
    // `assistants=v2` (what the SDK sends) or nothing; an older version is not this API.
    if (beta && /assistants=v1\b/.test(beta)) {
      return errorResponse({ ...invalid(null, "This server serves the Assistants API v2: set the header 'OpenAI-Beta: assistants=v2'."), code: 'invalid_beta' });
    }
    const caller = await services.access.authenticate(c.req.header('authorization') ?? null);
    await services.access.admitRequest(caller.owner);
    c.set('caller', caller);
    c.set('loaders', services.loaders());
    c.set('busy', 'run');
    await next();
  });

  // In registration order: POST /threads/runs before POST /threads/:id.
  runRoutes(app, deps);
  assistantRoutes(app, deps);
  threadRoutes(app, deps);

  app.notFound((c) => errorResponse(invalid(null, `Invalid URL (${c.req.method} ${new URL(c.req.url).pathname})`, 404)));
  app.onError((error, c) => {
    if (error instanceof BodyTooLargeError) return errorResponse(error.wire);
    return errorResponse(toWireError(error, c.get('busy') ?? 'run', deps.onUnexpected));
  });
  return app;
}

export const owner = (c: Ctx) => c.get('caller').owner;

/** The body as an object, within MAX_BODY_BYTES. */
export async function body(c: Ctx, limit: number): Promise<Record<string, unknown>> {
  return objectBody(await readJson(c.req.raw, limit));
}

/** An `Idempotency-Key` header (the SDK retries 5xx and 429 by itself). */
export const idempotencyKey = (c: Ctx) => c.req.header('idempotency-key') ?? null;

export const query = (c: Ctx) => new URL(c.req.url).searchParams;
