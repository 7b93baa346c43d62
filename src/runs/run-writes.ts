import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { prepared } from '../db/prepared.js';
import { newId } from '../db/ids.js';
import { messages, runs, type MessageRow, type RunRow, type RunStatus } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import type { NewThreadEvent } from '../events/types.js';
import type { LlmUsage } from '../llm/types.js';

/** The stored transitions of a run, each in one transaction with the events it causes. */

const param = (name: string) => sql`${sql.placeholder(name)}`;

export function markRunStarted(log: EventLog, run: RunRow): RunRow {
  return log.commit(run.threadId, (db) => {
    const started = startRun(db, run.id);
    return { result: started, events: [{ kind: 'RUN_STATUS', run: started }] };
  });
}

/** QUEUED → IN_PROGRESS, inside a commit that also emits its RUN_STATUS event. */
export function startRun(db: Db, runId: string): RunRow {
  const start = prepared(db, 'runs.start', () =>
    db
      .update(runs)
      .set({ status: 'IN_PROGRESS', startedAt: param('startedAt') })
      .where(eq(runs.id, sql.placeholder('id')))
      .returning()
      .prepare(),
  );
  return start.get({ id: runId, startedAt: Date.now() })!;
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
  /** The model's refusal text, stored on the reply. */
  refusal?: string;
}

/**
 * Ends a run: its reply (if any) becomes COMPLETED when the run completed, INCOMPLETE
 * otherwise, and keeps every character streamed so far (and the refusal, if the model refused).
 */
export function finishRun(log: EventLog, runId: string, threadId: string, outcome: RunOutcome): RunRow {
  return log.commit(threadId, (db) => {
    const events: NewThreadEvent[] = [];
    const finish = prepared(db, 'runs.finish', () =>
      db
        .update(runs)
        .set({
          status: param('status'),
          completedAt: param('completedAt'),
          errorCode: param('errorCode'),
          errorMessage: param('errorMessage'),
          incompleteReason: param('incompleteReason'),
          inputTokens: param('inputTokens'),
          outputTokens: param('outputTokens'),
          totalTokens: param('totalTokens'),
        })
        .where(eq(runs.id, sql.placeholder('id')))
        .returning()
        .prepare(),
    );
    const run = finish.get({
      id: runId,
      status: outcome.status,
      completedAt: Date.now(),
      errorCode: outcome.error?.code ?? null,
      errorMessage: outcome.error?.message ?? null,
      incompleteReason: outcome.incompleteReason ?? null,
      inputTokens: outcome.usage?.inputTokens ?? null,
      outputTokens: outcome.usage?.outputTokens ?? null,
      totalTokens: outcome.usage?.totalTokens ?? null,
    })!;
    if (run.replyMessageId) {
      const finishReply = prepared(db, 'messages.finish', () =>
        db
          .update(messages)
          .set({ status: param('status'), refusal: param('refusal') })
          .where(eq(messages.id, sql.placeholder('id')))
          .returning()
          .prepare(),
      );
      const reply = finishReply.get({
        id: run.replyMessageId,
        status: outcome.status === 'COMPLETED' ? 'COMPLETED' : 'INCOMPLETE',
        refusal: outcome.refusal ?? null,
      })!;
      events.push({ kind: 'MESSAGE', message: reply });
    }
    events.push({ kind: 'RUN_STATUS', run });
    return { result: run, events };
  });
}
