import { and, eq, inArray, sql } from 'drizzle-orm';
import { eventPayload } from '../../services/events/serialize.js';
import type { StoreTx } from '../types.js';
import type { Db } from './client.js';
import { guarded } from './driver-errors.js';
import { prepared } from './prepared.js';
import { messages, runs, threads } from './tables.js';

const param = (name: string) => sql`${sql.placeholder(name)}`;

/**
 * The writes of a transaction (index.ts opens and closes it). Hot ones are prepared once per
 * database: building a Drizzle query costs tens of microseconds, running a prepared one a few.
 */
export function sqliteTx(db: Db): StoreTx {
  const insertEvent = prepared(db, 'events.insert', () =>
    db.$client.prepare('insert into events (thread_id, seq, type, message_id, payload, created_at) values (?, ?, ?, ?, ?, ?)'),
  );
  const allocate = prepared(db, 'threads.allocateSeqs', () =>
    db.$client.prepare('update threads set last_event_seq = max(last_event_seq, ?) + ? where id = ? returning last_event_seq'),
  );
  const appendText = prepared(db, 'messages.append', () =>
    db
      .update(messages)
      .set({ content: sql`${messages.content} || ${sql.placeholder('text')}` })
      .where(eq(messages.id, sql.placeholder('messageId')))
      .prepare(),
  );
  const start = prepared(db, 'runs.start', () =>
    db.$client.prepare(
      // Only the thread's oldest QUEUED run starts, and only while none is IN_PROGRESS.
      `update runs set status = 'IN_PROGRESS', started_at = ? where id = ? and status = 'QUEUED'
         and not exists (select 1 from runs r where r.thread_id = runs.thread_id
           and (r.status = 'IN_PROGRESS' or (r.status = 'QUEUED' and r.pos < runs.pos))) returning id`,
    ),
  );
  const findRun = prepared(db, 'run.byId', () => db.select().from(runs).where(eq(runs.id, sql.placeholder('id'))).prepare());

  return {
    insertThread: async (row) => guarded(() => db.insert(threads).values(row).returning().get()),
    touchThread: async (threadId, at) => guarded(() => void db.update(threads).set({ updatedAt: at }).where(eq(threads.id, threadId)).run()),
    insertMessage: async (row) => guarded(() => db.insert(messages).values(row).returning().get()),
    appendMessageText: async (messageId, text) => guarded(() => void appendText.run({ messageId, text })),
    setMessageStatus: async (messageId, status, refusal) =>
      guarded(() =>
        db
          .update(messages)
          .set(refusal === undefined ? { status } : { status, refusal })
          .where(eq(messages.id, messageId))
          .returning()
          .get(),
      ),
    insertRun: async (row) => guarded(() => db.insert(runs).values(row).returning().get()),
    startRun: async (runId, at) =>
      guarded(() => {
        const started = start.get(at.getTime(), runId) as { id: string } | undefined;
        return started ? (findRun.get({ id: runId }) ?? null) : null;
      }),
    setRunReply: async (runId, messageId) =>
      guarded(() => db.update(runs).set({ replyMessageId: messageId }).where(eq(runs.id, runId)).returning().get()!),
    endRun: async (runId, end, from) =>
      guarded(
        () =>
          db
            .update(runs)
            .set(end)
            .where(and(eq(runs.id, runId), inArray(runs.status, [...from])))
            .returning()
            .get() ?? null,
      ),
    allocateSeqs: async (threadId, count, atLeast) =>
      guarded(() => {
        const row = allocate.get(atLeast, count, threadId) as { last_event_seq: number } | undefined;
        if (!row) throw new Error(`thread ${threadId} does not exist`);
        return row.last_event_seq;
      }),
    insertEvents: async (events, at) =>
      guarded(() => {
        const now = at.getTime();
        for (const event of events) {
          const messageId = event.kind === 'MESSAGE_DELTA' ? event.messageId : null;
          insertEvent.run(event.threadId, event.seq, event.kind, messageId, JSON.stringify(eventPayload(event)), now);
        }
      }),
  };
}
