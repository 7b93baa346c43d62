import type { Logger } from 'pino';
import { StorageError } from '../../store/errors.js';
import type { RunRow, Store, ToolChoice } from '../../store/types.js';
import { LeaseLostError, type EventLog } from '../events/event-log.js';
import { ProviderError, type FinishReason, type LlmProvider, type LlmToolCall, type LlmStreamEvent, type LlmToolChoice, type LlmUsage } from '../../llm/types.js';
import { buildRunInput, type KnownRows } from './history.js';
import { createReply, type LegOutcome, type RunOutcome } from './run-writes.js';

/**
 * Why the engine aborted a run; the abort reason decides how the run ends. LEASE_LOST: another
 * instance took the thread over, so this one writes nothing more (the fence would refuse it).
 */
export type AbortReason = 'CANCELLED' | 'SERVER_SHUTDOWN' | 'LEASE_LOST';

export interface ExecuteDeps {
  store: Store;
  events: EventLog;
  llm: LlmProvider;
  logger: Logger;
  /** Token budget for a run's input when no truncation strategy sets one. */
  maxInputTokens: number;
}

/**
 * Streams one started (IN_PROGRESS) run's reply from the provider into an assistant message,
 * publishing every delta, and says how the run ends. Never throws; the engine stores the end.
 */
export async function executeRun(deps: ExecuteDeps, run: RunRow, signal: AbortSignal, known?: KnownRows): Promise<LegOutcome> {
  // Filled as a refusal streams; stored with the end of the run, whichever way it ends.
  const refusal = { text: '' };
  const withRefusal = (outcome: LegOutcome): LegOutcome =>
    refusal.text !== '' && outcome.status !== 'REQUIRES_ACTION' ? { ...outcome, refusal: refusal.text } : outcome;
  try {
    return withRefusal(await streamReply(deps, run, signal, refusal, known));
  } catch (err) {
    return withRefusal(failureOutcome(deps, run, signal, err));
  }
}

function failureOutcome(deps: ExecuteDeps, run: RunRow, signal: AbortSignal, err: unknown): RunOutcome {
  // The signal, not the error's type, says whether we aborted: a provider's own abort is a failure.
  if (signal.aborted) return abortedOutcome(signal);
  // The thread was taken over (or deleted): nothing this instance writes would land.
  if (err instanceof LeaseLostError) return { status: 'CANCELLED' };
  if (err instanceof StorageError) {
    deps.logger.error({ err, runId: run.id }, 'a write the run needed was refused; the run ends STORAGE_ERROR');
    return failed('STORAGE_ERROR', 'The database refused a write this run needed (for example, the disk is full).');
  }
  if (err instanceof ProviderError) return failed(err.code, err.message);
  deps.logger.error({ err, runId: run.id }, 'run failed with an unexpected error');
  return failed('PROVIDER_ERROR', 'The run failed unexpectedly.');
}

/** Thrown out of the provider's stream to stop reading it (the run was aborted). */
const STOP = Symbol('stop reading');

async function streamReply(
  deps: ExecuteDeps,
  run: RunRow,
  signal: AbortSignal,
  refusal: { text: string },
  known: KnownRows | undefined,
): Promise<LegOutcome> {
  // A run resumed after tool outputs goes on writing the reply it started.
  const read: { replyId: string | null; finish: { reason: FinishReason; usage: LlmUsage | null } | null } = { replyId: run.replyMessageId, finish: null };
  const calls: LlmToolCall[] = [];
  let text = '';
  const input = await buildRunInput(deps.store, run, deps.maxInputTokens, known);
  // The Assistants API's max_prompt_tokens: a turn that cannot fit ends the run, unsent.
  if (run.maxPromptTokens != null && input.overBudget) return { status: 'INCOMPLETE', incompleteReason: 'max_prompt_tokens' };
  const { overBudget: _, ...prompt } = input;
  const tools = run.tools ?? [];
  const request = {
    ...prompt,
    model: run.model,
    maxOutputTokens: run.maxCompletionTokens,
    tools,
    toolChoice: tools.length > 0 && run.toolChoice ? toLlmToolChoice(run.toolChoice) : null,
    parallelToolCalls: tools.length > 0 ? run.parallelToolCalls : null,
    signal,
  };
  const addText = (event: { type: 'delta' | 'refusal'; text: string }, replyId: string): Promise<void> | undefined => {
    // A refusal is not reply text: no deltas; subscribers see it on the final MessageEvent.
    if (event.type === 'refusal') {
      refusal.text += event.text;
      return undefined;
    }
    text += event.text;
    // A full window (or an open store) holds the run here: it reads no more of its provider until there is room.
    return deps.events.appendDelta(run.threadId, run.id, replyId, event.text);
  };
  // Each event as the provider reads it; a promise holds the provider's stream until it settles.
  const take = (raw: LlmStreamEvent): Promise<void> | undefined => {
    if (signal.aborted) throw STOP;
    const event = withoutNul(raw);
    if (event.type === 'done') {
      read.finish = { reason: event.finishReason, usage: event.usage };
      return undefined;
    }
    if (event.type === 'tool_call') {
      calls.push(event.call);
      return undefined;
    }
    if (event.text === '') return undefined;
    if (read.replyId !== null) return addText(event, read.replyId);
    return createReply(deps.events, run).then(({ reply }) => {
      read.replyId = reply.id;
      return addText(event, reply.id);
    });
  };
  // A throw out of `take` (a refused write, a lost lease, STOP) ends the provider's stream, whose
  // cleanup ends the HTTP request: no controller of our own needed.
  try {
    if (deps.llm.forEach) await deps.llm.forEach(request, take);
    else {
      for await (const raw of deps.llm.stream(request)) {
        const wait = take(raw);
        if (wait) await wait;
      }
    }
  } catch (error) {
    if (error !== STOP) throw error;
  }
  const { finish } = read;
  if (signal.aborted) return abortedOutcome(signal);
  if (!finish) return failed('PROVIDER_ERROR', 'The provider stream ended before the response completed.');
  // A stream that ended with calls waits for their outputs, whatever reason the provider gave.
  if (calls.length > 0 && (finish.reason === 'tool_calls' || finish.reason === 'stop')) {
    return { status: 'REQUIRES_ACTION', calls, text, usage: finish.usage };
  }
  if (finish.reason === 'stop' || finish.reason === 'tool_calls') return { status: 'COMPLETED', usage: finish.usage };
  return { status: 'INCOMPLETE', incompleteReason: finish.reason, usage: finish.usage };
}

/**
 * The model's text with U+0000 replaced by U+FFFD: PostgreSQL refuses NUL in text (22P05), so a
 * reply holding one could never be stored; replaced here, before anything is published, every
 * backend stores and every subscriber sees the same text.
 */
function withoutNul(event: LlmStreamEvent): LlmStreamEvent {
  const clean = (text: string) => (text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text);
  // The event itself when there is no NUL (one per token: no copy of it).
  if (event.type === 'delta' || event.type === 'refusal') return event.text.includes('\0') ? { ...event, text: clean(event.text) } : event;
  if (event.type === 'tool_call') return { ...event, call: { ...event.call, id: clean(event.call.id), name: clean(event.call.name), arguments: clean(event.call.arguments) } };
  return event;
}

function toLlmToolChoice(choice: ToolChoice): LlmToolChoice {
  return choice.mode === 'FUNCTION' ? { mode: 'FUNCTION', functionName: choice.functionName ?? '' } : { mode: choice.mode };
}

function failed(code: string, message: string): RunOutcome {
  return { status: 'FAILED', error: { code, message } };
}

function abortedOutcome(signal: AbortSignal): RunOutcome {
  const reason = signal.reason as AbortReason | undefined;
  if (reason === 'SERVER_SHUTDOWN') return failed('SERVER_SHUTDOWN', 'The server shut down before the run ended.');
  return { status: 'CANCELLED' };
}
