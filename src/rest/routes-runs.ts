import type { Hono } from 'hono';
import { NotFoundError, UnauthenticatedError } from '../errors.js';
import { pageOfList } from '../services/pagination.js';
import type { MessageRow, RunRow } from '../store/types.js';
import { toWireError } from './errors.js';
import { listArgs, runIn, threadIn, toolOutputsIn } from './inputs.js';
import { listOut, runOut, stepOut, threadOut } from './objects.js';
import { body, idempotencyKey, owner, POLL_AFTER_MS, query, type Ctx, type Env, type RestDeps } from './router.js';
import { assistantEvents, sseResponse, type Frame } from './stream.js';

/** Runs (create, createAndRun, retrieve, update, list, cancel, submit_tool_outputs) and their steps; `stream: true` answers SSE. */
export function runRoutes(app: Hono<Env>, deps: RestDeps): void {
  const { services } = deps;
  const { runRequests, runs, events, messages, access, config } = services;
  const limit = config.limits.bodyBytes;
  const beforeNewRun = (c: Ctx) => () => access.admitRun(owner(c));
  const assistantOf = (c: Ctx) => async (run: RunRow) => (run.assistantId ? c.get('loaders').assistant.load(run.assistantId) : undefined);
  const runWire = async (c: Ctx, run: RunRow) => runOut(run, await assistantOf(c)(run));
  const polled = async (c: Ctx, run: RunRow) => {
    c.header('openai-poll-after-ms', POLL_AFTER_MS);
    return c.json(await runWire(c, run));
  };

  /**
   * The run's events after `after` as SSE, until it ends or waits for tool outputs. A run that
   * is no longer moving (a retried request for a finished run) answers its state at once.
   */
  const stream = async (c: Ctx, run: RunRow, after: number, options: { first?: Frame[]; known?: MessageRow[]; settled?: boolean } = {}) => {
    const ctx = { assistantOf: assistantOf(c), known: options.known };
    if (options.settled) {
      const status = `thread.run.${run.status.toLowerCase()}`;
      const frames = (async function* () {
        yield* options.first ?? [];
        yield { event: status, data: await runWire(c, run) };
      })();
      return sseResponse(frames, () => {}, (e) => toWireError(e, 'run', deps.onUnexpected));
    }
    const log = await events.runEventsAfter(owner(c), run.id, after, { untilAction: true });
    // A revoked key's open streams end, as its GraphQL subscriptions do.
    const untrack = access.trackSession(c.get('caller').keyId, () => log.fail(new UnauthenticatedError('The API key was revoked.')));
    log.onEnd(untrack);
    return sseResponse(assistantEvents(log, ctx, options.first), () => log.close(), (e) => toWireError(e, 'run', deps.onUnexpected), c.req.raw.signal);
  };

  app.post('/threads/runs', async (c) => {
    const input = await body(c, limit);
    const startedAt = Date.now();
    const { thread, run } = await runRequests.startWithThread(owner(c), { ...runIn(input, idempotencyKey(c)), thread: threadIn(objectOrEmpty(input.thread), 'thread') }, beforeNewRun(c));
    if (input.stream !== true) return polled(c, run);
    const first = [{ event: 'thread.created', data: threadOut(thread) }];
    // A retried request (same Idempotency-Key) replays its run from the start, as a new one streams.
    return stream(c, run, 0, { first, settled: run.createdAt.getTime() < startedAt && ended(run) });
  });

  app.post('/threads/:tid/runs', async (c) => {
    const input = await body(c, limit);
    const threadId = c.req.param('tid');
    const startedAt = Date.now();
    const after = await events.currentSeq(threadId);
    const run = await runRequests.start(owner(c), threadId, runIn(input, idempotencyKey(c)), beforeNewRun(c));
    if (input.stream !== true) return polled(c, run);
    const repeat = run.createdAt.getTime() < startedAt;
    return stream(c, run, repeat ? 0 : after, { settled: repeat && ended(run) });
  });

  app.get('/threads/:tid/runs', async (c) => {
    const page = await runRequests.list(owner(c), c.req.param('tid'), listArgs(query(c)));
    return c.json(listOut(await Promise.all(page.data.map((r) => runWire(c, r))), page.hasMore));
  });
  app.get('/threads/:tid/runs/:rid', async (c) => polled(c, await runRequests.inThread(owner(c), c.req.param('tid'), c.req.param('rid'))));
  app.post('/threads/:tid/runs/:rid', async (c) => {
    const input = await body(c, limit);
    return polled(c, await runRequests.updateMetadata(owner(c), c.req.param('tid'), c.req.param('rid'), input.metadata));
  });

  app.post('/threads/:tid/runs/:rid/cancel', async (c) => {
    const run = await runRequests.inThread(owner(c), c.req.param('tid'), c.req.param('rid'));
    return polled(c, await runs.cancel(run.id, owner(c)));
  });

  app.post('/threads/:tid/runs/:rid/submit_tool_outputs', async (c) => {
    const input = await body(c, limit);
    const outputs = toolOutputsIn(input);
    const waiting = await runRequests.inThread(owner(c), c.req.param('tid'), c.req.param('rid'));
    // Read before the run goes on: the reply so far (text before the calls), and the seq from which its events are new.
    const known = waiting.replyMessageId ? [await messages.get(owner(c), waiting.replyMessageId)] : [];
    const after = await events.currentSeq(waiting.threadId);
    const run = await runs.submitToolOutputs(owner(c), waiting.id, outputs, '');
    if (input.stream !== true) return polled(c, run);
    // A retried submission for a run that already went on to an end (or another round) answers that state.
    return stream(c, run, after, { known, settled: run.status !== 'IN_PROGRESS' && run.status !== 'QUEUED' });
  });

  app.get('/threads/:tid/runs/:rid/steps', async (c) => {
    const steps = await runRequests.steps(owner(c), c.req.param('tid'), c.req.param('rid'));
    const page = await pageOfList(steps, listArgs(query(c)));
    return c.json(listOut(page.data.map((s) => stepOut(s)), page.hasMore));
  });
  app.get('/threads/:tid/runs/:rid/steps/:sid', async (c) => {
    const id = c.req.param('sid');
    const step = (await runRequests.steps(owner(c), c.req.param('tid'), c.req.param('rid'))).find((s) => s.id === id);
    if (!step) throw new NotFoundError('run step', id);
    return c.json(stepOut(step));
  });
}

const ended = (run: RunRow) => run.status !== 'QUEUED' && run.status !== 'IN_PROGRESS';

function objectOrEmpty(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
