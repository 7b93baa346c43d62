import { newId, newToolCallId } from '../../ids.js';
import type { FunctionTool, MessageRow, NewRunRow, RunRow, RunStatus, StoreTx, ThreadRow, ToolChoice, ToolRound } from '../../store/types.js';
import type { CommitOptions, EventLog } from '../events/event-log.js';
import type { NewThreadEvent } from '../events/types.js';
import type { LlmToolCall, LlmUsage } from '../../llm/types.js';
import { writeReply } from '../messages-writes.js';

/** The stored transitions of a run, each in one transaction with the events it causes. */

/** How one execution leg of a run ends: with an end, or waiting for tool outputs. */
export type LegOutcome = RunOutcome | ToolCallsOutcome;

/** The model called tools: the run waits for their outputs (REQUIRES_ACTION). */
export interface ToolCallsOutcome {
  status: 'REQUIRES_ACTION';
  calls: LlmToolCall[];
  /** What the model wrote in this leg before calling. */
  text: string;
  usage?: LlmUsage | null;
}

export interface RunOutcome {
  status: Exclude<RunStatus, 'QUEUED' | 'IN_PROGRESS' | 'REQUIRES_ACTION'>;
  error?: { code: string; message: string };
  incompleteReason?: string;
  usage?: LlmUsage | null;
  /** The model's refusal text, stored on the reply. */
  refusal?: string;
}

/** Run options only the Assistants API (/v1) sets; GraphQL runs take the defaults. */
export type RunExtras = Partial<Pick<RunRow, 'temperature' | 'truncation' | 'maxPromptTokens' | 'maxCompletionTokens' | 'metadata' | 'idempotencyKey'>>;

export async function insertQueuedRun(
  tx: StoreTx,
  thread: ThreadRow,
  run: NewRunOptions,
  at: Date,
  extras: RunExtras = {},
): Promise<{ run: RunRow; events: NewThreadEvent[] }> {
  const row = await tx.insertRun(newRunRow(thread, run, at, extras, null));
  return { run: row, events: [{ kind: 'RUN_STATUS', run: row }] };
}

/** The options of a new run that its request decides. */
export type NewRunOptions = { id: string; model: string; instructions: string | null; tools: FunctionTool[] | null; toolChoice: ToolChoice | null; parallelToolCalls: boolean | null };

/**
 * The row of a new run of `thread`: QUEUED, or already IN_PROGRESS (`startedAt`) when it is
 * the first run of a thread this transaction inserts, stored started in one insert where
 * insertQueuedRun and startRunInTx make two statements. The thread's row is the transaction's
 * and it has no other run, so the start rule (the oldest QUEUED run, none executing) holds;
 * the partial unique index still guards it. See insertedRunEvents.
 */
export function newRunRow(thread: Pick<ThreadRow, 'id' | 'owner' | 'assistantId'>, run: NewRunOptions, at: Date, extras: RunExtras, startedAt: Date | null): NewRunRow {
  return {
    id: run.id,
    owner: thread.owner,
    threadId: thread.id,
    assistantId: thread.assistantId,
    status: startedAt ? ('IN_PROGRESS' as const) : ('QUEUED' as const),
    model: run.model,
    instructions: run.instructions,
    replyMessageId: null,
    tools: run.tools,
    toolChoice: run.toolChoice,
    parallelToolCalls: run.parallelToolCalls,
    toolRounds: [],
    expiresAt: null,
    errorCode: null,
    errorMessage: null,
    incompleteReason: null,
    inputTokens: null,
    outputTokens: null,
    totalTokens: null,
    temperature: extras.temperature ?? null,
    truncation: extras.truncation ?? null,
    maxPromptTokens: extras.maxPromptTokens ?? null,
    maxCompletionTokens: extras.maxCompletionTokens ?? null,
    metadata: extras.metadata ?? {},
    idempotencyKey: extras.idempotencyKey ?? null,
    createdAt: at,
    startedAt,
    completedAt: null,
    cancelRequestedAt: null,
  };
}

/**
 * The events of a new run as stored: QUEUED; for one inserted started, the two that
 * insertQueuedRun and startRunInTx would give (QUEUED, then IN_PROGRESS).
 */
export function insertedRunEvents(row: RunRow): { queued: RunRow; started: RunRow | null; events: NewThreadEvent[] } {
  if (row.status === 'QUEUED') return { queued: row, started: null, events: [{ kind: 'RUN_STATUS', run: row }] };
  const queued: RunRow = { ...row, status: 'QUEUED', startedAt: null };
  return { queued, started: row, events: [{ kind: 'RUN_STATUS', run: queued }, { kind: 'RUN_STATUS', run: row }] };
}

export const newRunId = () => newId('Run');

/** QUEUED → IN_PROGRESS when the database agrees (oldest queued, none executing); null otherwise. */
export async function startRunInTx(tx: StoreTx, runId: string, events: NewThreadEvent[]): Promise<RunRow | null> {
  const started = await tx.startRun(runId, new Date());
  if (started) events.push({ kind: 'RUN_STATUS', run: started });
  return started;
}

/** Starts a QUEUED run here (this instance takes the thread's lease); null when the database says no. */
export function markRunStarted(log: EventLog, run: Pick<RunRow, 'id' | 'threadId'>, options: CommitOptions = {}): Promise<RunRow | null> {
  return log.commit(
    run.threadId,
    async (tx) => {
      const events: NewThreadEvent[] = [];
      const started = await startRunInTx(tx, run.id, events);
      return { result: started, events, acquire: started !== null };
    },
    options,
  );
}

export function createReply(log: EventLog, run: RunRow) {
  return log.commit(
    run.threadId,
    async (tx) => {
      const out = await writeReply(tx, run);
      return { result: out, events: out.events };
    },
    // The reply's row comes with the first token: its COMMIT is that token's wait.
    { asWriter: true, atOnce: true },
  );
}

/**
 * Ends a run whose status is one of `from` (idempotent: a retried end that already landed
 * changes nothing and returns null). Its reply becomes COMPLETED or INCOMPLETE.
 */
export async function finishRun(
  log: EventLog,
  run: Pick<RunRow, 'id' | 'threadId'>,
  outcome: RunOutcome,
  from: readonly RunStatus[],
  options: CommitOptions = {},
): Promise<RunRow | null> {
  return (await finishRunWithReply(log, run, outcome, from, options))?.run ?? null;
}

/** finishRun, with the reply as the same transaction stored it (undefined: the run has none). */
export function finishRunWithReply(
  log: EventLog,
  run: Pick<RunRow, 'id' | 'threadId'>,
  outcome: RunOutcome,
  from: readonly RunStatus[],
  options: CommitOptions = {},
): Promise<{ run: RunRow; reply: MessageRow | undefined } | null> {
  return log.commit(run.threadId, async (tx) => {
    const ended = await tx.endRunWithReply(
      run.id,
      {
        status: outcome.status,
        completedAt: new Date(),
        errorCode: outcome.error?.code ?? null,
        errorMessage: outcome.error?.message ?? null,
        incompleteReason: outcome.incompleteReason ?? null,
        inputTokens: outcome.usage?.inputTokens ?? null,
        outputTokens: outcome.usage?.outputTokens ?? null,
        totalTokens: outcome.usage?.totalTokens ?? null,
      },
      from,
      outcome.refusal ?? null,
    );
    if (!ended) return { result: null, events: [] };
    const { run: row, reply } = ended;
    // The reply's final state, then the run's end (as endReply and endRun give them).
    const events: NewThreadEvent[] = reply ? [{ kind: 'MESSAGE', message: reply }] : [];
    return { result: { run: row, reply }, events: [...events, { kind: 'RUN_STATUS', run: row }] };
  }, options);
}

/** The executing instance's end of its run: fenced by its lease, which it gives up in the same transaction. */
export const AS_EXECUTOR: CommitOptions = { asWriter: true, release: true };

/** The run waits for the outputs of the calls it made: a new round, a deadline, its usage so far. */
export function storeToolCalls(log: EventLog, run: RunRow, outcome: ToolCallsOutcome, expiresAt: Date): Promise<RunRow | null> {
  return log.commit(run.threadId, async (tx) => {
    const round: ToolRound = {
      text: outcome.text,
      calls: outcome.calls.map((c) => ({ id: newToolCallId(), providerId: c.id, name: c.name, arguments: c.arguments, output: null })),
      createdAt: Date.now(),
      submittedAt: null,
    };
    const waiting = await tx.requireAction(run.id, [...run.toolRounds, round], expiresAt, {
      inputTokens: outcome.usage?.inputTokens ?? null,
      outputTokens: outcome.usage?.outputTokens ?? null,
      totalTokens: outcome.usage?.totalTokens ?? null,
    });
    return { result: waiting, events: waiting ? [{ kind: 'RUN_STATUS', run: waiting }] : [] };
  }, AS_EXECUTOR);
}

/** The outputs arrived: the run goes on (IN_PROGRESS), if it was still waiting. */
export function storeToolOutputs(log: EventLog, run: RunRow, rounds: ToolRound[]): Promise<RunRow | null> {
  return log.commit(run.threadId, async (tx) => {
    const resumed = await tx.resumeRun(run.id, rounds);
    return { result: resumed, events: resumed ? [{ kind: 'RUN_STATUS', run: resumed }] : [], acquire: resumed !== null };
  });
}
