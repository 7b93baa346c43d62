import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { MessageRow, RunRow } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import { isAbortError } from '../llm/errors.js';
import { ProviderError, type FinishReason, type LlmProvider, type LlmUsage } from '../llm/types.js';
import { buildRunInput } from './history.js';
import { createReply, finishRun, markRunStarted, type RunOutcome } from './run-writes.js';

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
 * Runs one QUEUED run to its end: streams the reply from the provider into an assistant
 * message and publishes every delta. Never throws: every path ends in a terminal status.
 */
export async function executeRun(deps: ExecuteDeps, queued: RunRow, signal: AbortSignal): Promise<RunRow> {
  const run = markRunStarted(deps.events, queued);
  let reply: MessageRow | null = null;
  let finish: { reason: FinishReason; usage: LlmUsage | null } | null = null;
  let outcome: RunOutcome;
  try {
    const input = buildRunInput(deps.db, run, deps.maxInputTokens);
    const stream = deps.llm.stream({ ...input, model: run.model, signal });
    for await (const event of stream) {
      if (signal.aborted) break;
      if (event.type === 'done') {
        finish = { reason: event.finishReason, usage: event.usage };
        continue;
      }
      if (event.text === '') continue;
      reply ??= createReply(deps.events, run).reply;
      deps.events.appendDelta(run.threadId, run.id, reply.id, event.text);
    }
    if (signal.aborted) outcome = abortedOutcome(signal);
    else if (!finish) outcome = failed('PROVIDER_ERROR', 'The provider stream ended before the response completed.');
    else if (finish.reason === 'stop') outcome = { status: 'COMPLETED', usage: finish.usage };
    else outcome = { status: 'INCOMPLETE', incompleteReason: finish.reason, usage: finish.usage };
  } catch (err) {
    if (signal.aborted || isAbortError(err)) outcome = abortedOutcome(signal);
    else if (err instanceof ProviderError) outcome = failed(err.code, err.message);
    else {
      deps.logger.error({ err, runId: run.id }, 'run failed with an unexpected error');
      outcome = failed('PROVIDER_ERROR', 'The run failed unexpectedly.');
    }
  }
  return finishRun(deps.events, run.id, run.threadId, outcome);
}

function failed(code: string, message: string): RunOutcome {
  return { status: 'FAILED', error: { code, message } };
}

function abortedOutcome(signal: AbortSignal): RunOutcome {
  const reason = signal.reason as AbortReason | undefined;
  if (reason === 'SERVER_SHUTDOWN') return failed('SERVER_SHUTDOWN', 'The server shut down before the run ended.');
  return { status: 'CANCELLED' };
}
