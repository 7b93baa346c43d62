import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { newId } from '../db/ids.js';
import {
  messages,
  runs,
  threads,
  type Metadata,
  type TruncationStrategy,
  type MessageRow,
  type RunRow,
  type ThreadRow,
} from '../db/schema.js';
import type { NewThreadEvent } from '../events/types.js';

/** The stored writes behind createThread and sendMessage (called inside EventLog.commit). */

export interface NewMessage {
  role: MessageRow['role'];
  content: string;
  metadata: Metadata;
  idempotencyKey?: string | null;
}

export interface NewRunOptions {
  model: string;
  instructions: string | null;
}

export function insertThread(
  db: Db,
  input: { id: string; owner: string; assistantId: string | null; title: string | null; truncation: TruncationStrategy | null; metadata: Metadata },
): ThreadRow {
  const now = new Date();
  return db
    .insert(threads)
    .values({ ...input, createdAt: now, updatedAt: now })
    .returning()
    .get();
}

/**
 * Inserts messages in order and, when `run` is given, a QUEUED run started by the last one.
 * Returns the rows and the events that describe them.
 */
export function insertMessagesAndRun(
  db: Db,
  thread: ThreadRow,
  newMessages: NewMessage[],
  run: NewRunOptions | null,
): { messages: MessageRow[]; run: RunRow | null; events: NewThreadEvent[] } {
  const now = new Date();
  const runId = run ? newId('Run') : null;
  const rows = newMessages.map((m, i) =>
    db
      .insert(messages)
      .values({
        id: newId('Message'),
        owner: thread.owner,
        threadId: thread.id,
        role: m.role,
        content: m.content,
        status: 'COMPLETED',
        runId: i === newMessages.length - 1 ? runId : null,
        idempotencyKey: m.idempotencyKey ?? null,
        metadata: m.metadata,
        createdAt: now,
      })
      .returning()
      .get(),
  );
  const events: NewThreadEvent[] = rows.map((message) => ({ kind: 'MESSAGE', message }));
  let runRow: RunRow | null = null;
  if (run && runId) {
    runRow = db
      .insert(runs)
      .values({
        id: runId,
        owner: thread.owner,
        threadId: thread.id,
        assistantId: thread.assistantId,
        status: 'QUEUED',
        model: run.model,
        instructions: run.instructions,
        createdAt: now,
      })
      .returning()
      .get();
    events.push({ kind: 'RUN_STATUS', run: runRow });
  }
  db.update(threads).set({ updatedAt: now }).where(eq(threads.id, thread.id)).run();
  return { messages: rows, run: runRow, events };
}
