import { and, eq, sql, type SQL } from 'drizzle-orm';
import { findThread, required } from '../db/lookups.js';
import { threads } from '../db/schema.js';
import { BadUserInputError } from '../errors.js';
import { builder } from '../schema/builder.js';
import { MessageRoleEnum } from '../schema/enums.js';
import { MessageRef } from '../schema/message.js';
import { filteredRows, paginate } from '../schema/pagination.js';
import { TruncationStrategyInput } from '../schema/truncation.js';
import { RunRef } from '../schema/run.js';
import { ThreadConnectionRef, ThreadRef } from '../schema/thread.js';
import { replyOf } from './reply.js';
import { checkMetadata, checkTruncation, checkName, checkOptionalText, checkText } from './validate.js';

builder.queryField('thread', (t) =>
  t.field({
    type: ThreadRef,
    nullable: true,
    description: 'A thread by id (NOT_FOUND when unknown).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => required(findThread(ctx.db, id, ctx.owner), 'thread', id),
  }),
);

builder.queryField('threads', (t) =>
  t.connection({
    type: ThreadRef,
    description: 'Threads, newest first; optionally of one assistant and with all the given metadata key/values.',
    args: {
      assistantId: t.arg.id(),
      metadata: t.arg({ type: 'JSONObject', description: 'Threads whose metadata has every key with the given value.' }),
    },
    resolve: (_root, args, ctx) => {
      const filters: SQL[] = [eq(threads.owner, ctx.owner)];
      if (args.assistantId) filters.push(eq(threads.assistantId, args.assistantId));
      for (const [key, value] of Object.entries(checkMetadata('metadata', args.metadata, ctx.config.limits))) {
        filters.push(sql`exists (select 1 from json_each(${threads.metadata}) where key = ${key} and value = ${value})`);
      }
      return paginate(args, filteredRows(ctx.db, threads, and(...filters), true), true);
    },
  }, ThreadConnectionRef),
);

const ThreadMessageInput = builder.inputType('ThreadMessageInput', {
  description: 'A message to store in a new thread.',
  fields: (t) => ({
    role: t.field({ type: MessageRoleEnum, required: true }),
    content: t.string({ required: true }),
    metadata: t.field({ type: 'JSONObject' }),
  }),
});

builder.relayMutationField(
  'createThread',
  {
    inputFields: (t) => ({
      assistantId: t.id(),
      model: t.string({ description: 'Model for the first run; default: the assistant\'s, else DEFAULT_MODEL.' }),
      instructions: t.string({ description: 'Instructions for the first run, instead of the assistant\'s.' }),
      title: t.string(),
      truncationStrategy: t.field({ type: TruncationStrategyInput }),
      metadata: t.field({ type: 'JSONObject' }),
      messages: t.field({ type: [ThreadMessageInput], description: 'When the last one is USER, a run starts at once.' }),
    }),
  },
  {
    description: 'Creates a thread with its first messages; a run starts when the last message is from the user.',
    resolve: (_root, { input }, ctx) => {
      const { limits } = ctx.config;
      const messages = input.messages ?? [];
      if (messages.length > limits.threadMessages) {
        throw new BadUserInputError('input.messages', `has ${messages.length} messages; the limit is ${limits.threadMessages}`);
      }
      const checked = messages.map((m, i) => ({
        role: m.role,
        content: checkText(`input.messages[${i}].content`, m.content, limits.contentChars),
        metadata: checkMetadata(`input.messages[${i}].metadata`, m.metadata, limits),
      }));
      return ctx.runs.createThread({
        owner: ctx.owner,
        assistantId: input.assistantId ?? null,
        model: checkName('input.model', input.model),
        instructions: checkOptionalText('input.instructions', input.instructions, limits.instructionsChars),
        title: checkOptionalText('input.title', input.title, limits.titleChars),
        truncation: checkTruncation('input.truncationStrategy', input.truncationStrategy),
        metadata: checkMetadata('input.metadata', input.metadata, limits),
        messages: checked,
      }, () => ctx.access.takeRun(ctx.owner));
    },
  },
  {
    outputFields: (t) => ({
      thread: t.field({ type: ThreadRef, resolve: (p) => p.thread }),
      run: t.field({ type: RunRef, nullable: true, description: 'The run started by the last USER message.', resolve: (p) => p.run }),
      reply: t.field({
        type: MessageRef,
        nullable: true,
        description: 'Resolves when the run ends (use @defer): its reply, or null.',
        resolve: (p, _args, ctx) => replyOf(p.run, ctx),
      }),
    }),
  },
);

builder.relayMutationField(
  'updateThread',
  {
    inputFields: (t) => ({
      threadId: t.id({ required: true }),
      title: t.string(),
      truncationStrategy: t.field({ type: TruncationStrategyInput }),
      metadata: t.field({ type: 'JSONObject', description: 'Replaces the whole metadata object.' }),
    }),
  },
  {
    description: 'Changes the title and/or metadata; fields left out keep their value.',
    resolve: (_root, { input }, ctx) => {
      const { limits } = ctx.config;
      required(findThread(ctx.db, input.threadId, ctx.owner), 'thread', input.threadId);
      const thread = ctx.db
        .update(threads)
        .set({
          title: checkOptionalText('input.title', input.title, limits.titleChars) ?? undefined,
          truncation: checkTruncation('input.truncationStrategy', input.truncationStrategy) ?? undefined,
          metadata: input.metadata == null ? undefined : checkMetadata('input.metadata', input.metadata, limits),
          updatedAt: new Date(),
        })
        .where(eq(threads.id, input.threadId))
        .returning()
        .get();
      return { thread };
    },
  },
  { outputFields: (t) => ({ thread: t.field({ type: ThreadRef, resolve: (p) => p.thread }) }) },
);

builder.relayMutationField(
  'deleteThread',
  { inputFields: (t) => ({ threadId: t.id({ required: true }) }) },
  {
    description: 'Deletes a thread with its messages, runs and events; an active run is cancelled first.',
    resolve: async (_root, { input }, ctx) => {
      await ctx.runs.deleteThread(input.threadId, ctx.owner);
      return { deletedThreadId: input.threadId };
    },
  },
  { outputFields: (t) => ({ deletedThreadId: t.exposeID('deletedThreadId') }) },
);
