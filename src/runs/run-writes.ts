import { eq } from 'drizzle-orm';
import { newId } from '../db/ids.js';
import { messages, runs, type MessageRow, type RunRow, type RunStatus } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import type { NewThreadEvent } from '../events/types.js';
import type { LlmUsage } from '../llm/types.js';

/** The stored transitions of a run, each in one transaction with the events it causes. */

export function markRunStarted(log: EventLog, run: RunRow): RunRow {
  return log.commit(run.threadId, (db) => {
    const started = db
      .update(runs)
      .set({ status: 'IN_PROGRESS', startedAt: new Date() })
      .where(eq(runs.id, run.id))
      .returning()
      .get();
    return { result: started, events: [{ kind: 'RUN_STATUS', run: started }] };
  });
}

/** The run's assistant message, created when the first text arrives. */
export function createReply(log: EventLog, run: RunRow): { run: RunRow; reply: MessageRow } {
  return log.commit(run.threadId, (db) => {
    const reply = db
      .insert(messages)
      .values({
        id: newId('Message'),
        owner: run.owner,
        threadId: run.threadId,
        role: 'ASSISTANT',
        content: '',
        status: 'IN_PROGRESS',
        runId: run.id,
        metadata: {},
        createdAt: new Date(),
      })
      .returning()
      .get();
    const updated = db.update(runs).set({ replyMessageId: reply.id }).where(eq(runs.id, run.id)).returning().get();
    return { result: { run: updated, reply }, events: [{ kind: 'MESSAGE', message: reply }] };
  });
}

export interface RunOutcome {
  status: Exclude<RunStatus, 'QUEUED' | 'IN_PROGRESS'>;
  error?: { code: string; message: string };
  incompleteReason?: string;
  usage?: LlmUsage | null;
}

/**
 * Ends a run: its reply (if any) becomes COMPLETED when the run completed, INCOMPLETE
 * otherwise, and keeps every character streamed so far.
 */
export function finishRun(log: EventLog, runId: string, threadId: string, outcome: RunOutcome): RunRow {
  return log.commit(threadId, (db) => {
    const events: NewThreadEvent[] = [];
    const run = db
      .update(runs)
      .set({
        status: outcome.status,
        completedAt: new Date(),
        errorCode: outcome.error?.code ?? null,
        errorMessage: outcome.error?.message ?? null,
        incompleteReason: outcome.incompleteReason ?? null,
        inputTokens: outcome.usage?.inputTokens ?? null,
        outputTokens: outcome.usage?.outputTokens ?? null,
        totalTokens: outcome.usage?.totalTokens ?? null,
      })
      .where(eq(runs.id, runId))
      .returning()
      .get();
    if (run.replyMessageId) {
      const reply = db
        .update(messages)
        .set({ status: outcome.status === 'COMPLETED' ? 'COMPLETED' : 'INCOMPLETE' })
        .where(eq(messages.id, run.replyMessageId))
        .returning()
        .get();
      events.push({ kind: 'MESSAGE', message: reply });
    }
    events.push({ kind: 'RUN_STATUS', run });
    return { result: run, events };
  });
}
