import { hasIdPrefix } from '../db/ids.js';
import { eq, sql } from 'drizzle-orm';
import { activeRuns, findAssistant, findThread } from '../db/lookups.js';
import { messages, runs, type ThreadRow } from '../db/schema.js';
import { AssistantRef } from './assistant.js';
import { builder } from './builder.js';
import { TruncationStrategyRef } from './truncation.js';
import { MessageConnectionRef, MessageRef } from './message.js';
import { paginate, scopedRows } from './pagination.js';
import { RunConnectionRef, RunRef, UsageRef } from './run.js';

export const ThreadRef = builder.objectRef<ThreadRow>('Thread');

/** One connection type per node type, shared by every field that lists threads. */
export const ThreadConnectionRef = builder.connectionObject(
  { type: ThreadRef, name: 'ThreadConnection' },
  { name: 'ThreadEdge' },
);

builder.node(ThreadRef, {
  description: 'A conversation: its messages, the runs that answered them, and its event log.',
  id: { resolve: (t) => t.id },
  isTypeOf: (value) => hasIdPrefix(value, 'thread_'),
  loadOne: (id, ctx) => findThread(ctx.db, id, ctx.owner) ?? null,
  fields: (t) => ({
    title: t.exposeString('title', { nullable: true }),
    assistant: t.field({
      type: AssistantRef,
      nullable: true,
      resolve: (thread, _args, ctx) => findAssistant(ctx.db, thread.assistantId) ?? null,
    }),
    truncationStrategy: t.field({
      type: TruncationStrategyRef,
      nullable: true,
      description: 'Overrides the assistant\'s truncation strategy for this thread.',
      resolve: (row) => row.truncation ?? null,
    }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    messages: t.connection({
      type: MessageRef,
      description: 'Messages, oldest first.',
      resolve: (thread, args, ctx) =>
        paginate(args, scopedRows(ctx.db, messages, { column: messages.threadId, value: thread.id })),
    }, MessageConnectionRef),
    runs: t.connection({
      type: RunRef,
      description: 'Runs, oldest first.',
      resolve: (thread, args, ctx) =>
        paginate(args, scopedRows(ctx.db, runs, { column: runs.threadId, value: thread.id })),
    }, RunConnectionRef),
    activeRun: t.field({
      type: RunRef,
      nullable: true,
      description: 'The QUEUED or IN_PROGRESS run, if any (the one executing, else the next to start).',
      resolve: (thread, _args, ctx) => activeRuns(ctx.db, thread.id)[0] ?? null,
    }),
    lastEventSeq: t.exposeInt('lastEventSeq', {
      description: 'Highest event seq stored for this thread: subscribe threadEvents(after: lastEventSeq) to continue without loss.',
    }),
    usage: t.field({
      type: UsageRef,
      description: 'Token totals over the thread\'s runs.',
      resolve: (thread, _args, ctx) =>
        ctx.db
          .select({
            inputTokens: sql<number>`coalesce(sum(${runs.inputTokens}), 0)`,
            outputTokens: sql<number>`coalesce(sum(${runs.outputTokens}), 0)`,
            totalTokens: sql<number>`coalesce(sum(${runs.totalTokens}), 0)`,
          })
          .from(runs)
          .where(eq(runs.threadId, thread.id))
          .get()!,
    }),
  }),
});
