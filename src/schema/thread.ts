import { hasIdPrefix } from '../ids.js';
import { builder } from './builder.js';
import { AssistantRef, MessageConnectionRef, MessageRef, RunConnectionRef, RunRef, ThreadRef, UsageRef } from './refs.js';
import { TruncationStrategyRef } from './truncation.js';

builder.node(ThreadRef, {
  description: 'A conversation: its messages, the runs that answered them, and its event log.',
  id: { resolve: (t) => t.id },
  isTypeOf: (value) => hasIdPrefix(value, 'thread_'),
  loadOne: (id, ctx) => ctx.services.threads.find(ctx.owner, id),
  fields: (t) => ({
    title: t.exposeString('title', { nullable: true }),
    assistant: t.field({
      type: AssistantRef,
      nullable: true,
      resolve: async (thread, _args, ctx) => (thread.assistantId ? ((await ctx.loaders.assistant.load(thread.assistantId)) ?? null) : null),
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
      resolve: (thread, args, ctx) => ctx.services.messages.list(thread.id, args),
    }, MessageConnectionRef),
    runs: t.connection({
      type: RunRef,
      description: 'Runs, oldest first.',
      resolve: (thread, args, ctx) => ctx.services.runs.list(thread.id, args),
    }, RunConnectionRef),
    activeRun: t.field({
      type: RunRef,
      nullable: true,
      description: 'The QUEUED, IN_PROGRESS or REQUIRES_ACTION run, if any (the one executing or waiting for tool outputs, else the next to start).',
      resolve: async (thread, _args, ctx) => (await ctx.services.runs.activeRuns(thread.id))[0] ?? null,
    }),
    lastEventSeq: t.int({
      description: 'Highest event seq stored for this thread: subscribe threadEvents(after: lastEventSeq) to continue without loss.',
      // Read again, not taken from the row: this read and the messages page run in the same
      // synchronous pass of the store, so both describe one moment (no flush lands between them).
      resolve: (thread, _args, ctx) => ctx.services.threads.lastEventSeq(thread.id),
    }),
    usage: t.field({
      type: UsageRef,
      description: 'Token totals over the thread\'s runs.',
      resolve: (thread, _args, ctx) => ctx.loaders.usage.load(thread.id),
    }),
  }),
});
