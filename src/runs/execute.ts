import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { MessageRow, RunRow } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import { ProviderError, type FinishReason, type LlmProvider, type LlmUsage } from '../llm/types.js';
import { buildRunInput } from './history.js';
import { createReply, finishRun, type RunOutcome } from './run-writes.js';

/** Why the engine aborted a run; the abort reason decides how the run ends. */
export type AbortReason = 'CANCELLED' | 'SERVER_SHUTDOWN';

export interface ExecuteDeps {
  db: Db;
  events: EventLog;
  llm: LlmProvider;
  logger: Logger;
  /** Token budget for a run's input when no truncation strategy sets one. */
  maxInputTokens: number;
}

/**
 * Runs one started (IN_PROGRESS) run to its end: streams the reply from the provider into an assistant
 * message and publishes every delta. Never throws: every path ends in a terminal status.
 */
export async function executeRun(deps: ExecuteDeps, run: RunRow, signal: AbortSignal): Promise<RunRow> {
  let outcome: RunOutcome;
  // Filled as the refusal streams; stored with the end of the run, whichever way it ends.
  const refusal = { text: '' };
  try {
    outcome = await streamReply(deps, run, signal, refusal);
  } catch (err) {
    // The signal, not the error's type, says whether we aborted: a provider's own abort is a failure.
    if (signal.aborted) outcome = abortedOutcome(signal);
    else if (err instanceof ProviderError) outcome = failed(err.code, err.message);
    else {
      deps.logger.error({ err, runId: run.id }, 'run failed with an unexpected error');
      outcome = failed('PROVIDER_ERROR', 'The run failed unexpectedly.');
    }
  }
  if (refusal.text !== '') outcome = { ...outcome, refusal: refusal.text };
  // Let the last delta's socket write go out before the final transaction and its events.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    return finishRun(deps.events, run.id, run.threadId, outcome);
  } catch (err) {
    // One retry for a transient refusal (a lock held past the busy timeout). If it fails again
    // the run stays IN_PROGRESS until the next start-up ends it SERVER_RESTARTED.
    deps.logger.warn({ err, runId: run.id }, 'could not store the end of a run; retrying once');
    await new Promise((resolve) => setTimeout(resolve, 200));
    return finishRun(deps.events, run.id, run.threadId, outcome);
  }
}

/** Streams the provider's reply into the run's assistant message; returns how the run ends. */
async function streamReply(deps: ExecuteDeps, run: RunRow, signal: AbortSignal, refusal: { text: string }): Promise<RunOutcome> {
  let reply: MessageRow | null = null;
  let finish: { reason: FinishReason; usage: LlmUsage | null } | null = null;
  const input = buildRunInput(deps.db, run, deps.maxInputTokens);
  for await (const event of deps.llm.stream({ ...input, model: run.model, signal })) {
    if (signal.aborted) break;
    if (event.type === 'done') {
      finish = { reason: event.finishReason, usage: event.usage };
      continue;
    }
    if (event.text === '') continue;
    reply ??= createReply(deps.events, run).reply;
    // A refusal is not reply text: no deltas; subscribers see it on the final MessageEvent.
    if (event.type === 'refusal') refusal.text += event.text;
    else deps.events.appendDelta(run.threadId, run.id, reply.id, event.text);
  }
  if (signal.aborted) return abortedOutcome(signal);
  if (!finish) return failed('PROVIDER_ERROR', 'The provider stream ended before the response completed.');
  if (finish.reason === 'stop') return { status: 'COMPLETED', usage: finish.usage };
  return { status: 'INCOMPLETE', incompleteReason: finish.reason, usage: finish.usage };
}

function failed(code: string, message: string): RunOutcome {
  return { status: 'FAILED', error: { code, message } };
}

function abortedOutcome(signal: AbortSignal): RunOutcome {
  const reason = signal.reason as AbortReason | undefined;
  if (reason === 'SERVER_SHUTDOWN') return failed('SERVER_SHUTDOWN', 'The server shut down before the run ended.');
  return { status: 'CANCELLED' };
}
