import { newId } from '../ids.js';
import type { MessageRow, Metadata, NewMessageRow, RunRow, StoreTx, ThreadRow } from '../store/types.js';
import type { NewThreadEvent } from './events/types.js';

/**
 * Every write of a message, in one place (inside a transaction of the event log): the messages
 * a client sends, the assistant reply a run creates, and the reply's final status. Streamed
 * text is appended by the event log when it stores the deltas.
 */

export interface NewMessage {
  role: MessageRow['role'];
  content: string;
  metadata: Metadata;
  idempotencyKey?: string | null;
}

/**
 * Inserts messages in order; the last one is linked to `runId` (the run it starts). `touchedAt`
 * (when any was written) is the thread's new updatedAt: the commit writes it with the thread's
 * seqs, one statement instead of two.
 */
export async function writeMessages(
  tx: StoreTx,
  thread: ThreadRow,
  newMessages: NewMessage[],
  runId: string | null,
  at: Date,
): Promise<{ messages: MessageRow[]; events: NewThreadEvent[]; touchedAt: Date | undefined }> {
  const rows: MessageRow[] = [];
  for (const row of newMessageRows(thread, newMessages, runId, at)) rows.push(await tx.insertMessage(row));
  return { messages: rows, events: messagesWritten(rows), touchedAt: rows.length > 0 ? at : undefined };
}

/** The rows writeMessages inserts (for a caller that inserts them with its thread: StoreTx.insertThreadWith). */
export function newMessageRows(thread: Pick<ThreadRow, 'id' | 'owner'>, newMessages: NewMessage[], runId: string | null, at: Date): NewMessageRow[] {
  return newMessages.map((m, i) => ({
    id: newId('Message'),
    owner: thread.owner,
    threadId: thread.id,
    role: m.role,
    content: m.content,
    status: 'COMPLETED',
    runId: i === newMessages.length - 1 ? runId : null,
    idempotencyKey: m.idempotencyKey ?? null,
    refusal: null,
    metadata: m.metadata,
    createdAt: at,
  }));
}

/** The events of stored new messages. */
export const messagesWritten = (rows: MessageRow[]): NewThreadEvent[] => rows.map((message) => ({ kind: 'MESSAGE', message }));

/** The run's assistant message, created when its first output arrives. */
export async function writeReply(tx: StoreTx, run: RunRow): Promise<{ reply: MessageRow; events: NewThreadEvent[] }> {
  const reply = await tx.insertMessage({
    id: newId('Message'),
    owner: run.owner,
    threadId: run.threadId,
    role: 'ASSISTANT',
    content: '',
    status: 'IN_PROGRESS',
    runId: run.id,
    idempotencyKey: null,
    refusal: null,
    metadata: {},
    createdAt: new Date(),
  });
  await tx.setRunReply(run.id, reply.id);
  return { reply, events: [{ kind: 'MESSAGE', message: reply }] };
}

/**
 * A reply ends COMPLETED with its run, INCOMPLETE otherwise, keeping every character streamed
 * (and the refusal, if the model declined).
 */
export async function endReply(tx: StoreTx, run: RunRow, refusal: string | null): Promise<NewThreadEvent[]> {
  if (!run.replyMessageId) return [];
  const reply = await tx.setMessageStatus(run.replyMessageId, run.status === 'COMPLETED' ? 'COMPLETED' : 'INCOMPLETE', refusal);
  return reply ? [{ kind: 'MESSAGE', message: reply }] : [];
}
