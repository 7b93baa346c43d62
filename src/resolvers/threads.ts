import { builder } from '../schema/builder.js';
import { MessageRoleEnum } from '../schema/enums.js';
import { MessageRef, RunRef, ThreadConnectionRef, ThreadRef } from '../schema/refs.js';
import { FunctionToolInput, ToolChoiceInput } from '../schema/tools.js';
import { TruncationStrategyInput } from '../schema/truncation.js';

builder.queryField('thread', (t) =>
  t.field({
    type: ThreadRef,
    nullable: true,
    description: 'A thread by id (NOT_FOUND when unknown).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.threads.get(ctx.owner, id),
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
    resolve: (_root, args, ctx) => ctx.services.threads.list(ctx.owner, args),
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
      tools: t.field({ type: [FunctionToolInput], description: 'Functions this run may call, instead of the assistant\'s.' }),
      toolChoice: t.field({ type: ToolChoiceInput }),
      parallelToolCalls: t.boolean({ description: 'Whether the model may call several functions at once; default: the provider\'s.' }),
    }),
  },
  {
    description: 'Creates a thread with its first messages; a run starts when the last message is from the user.',
    resolve: (_root, { input }, ctx) => ctx.services.threads.create(ctx.owner, input, () => ctx.services.access.admitRun(ctx.owner)),
  },
  {
    outputFields: (t) => ({
      thread: t.field({ type: ThreadRef, resolve: (p) => p.thread }),
      run: t.field({ type: RunRef, nullable: true, description: 'The run started by the last USER message.', resolve: (p) => p.run }),
      reply: t.field({
        type: MessageRef,
        nullable: true,
        description: 'Resolves when the run ends (use @defer): its reply, or null.',
        resolve: (p, _args, ctx) => (p.run ? ctx.services.messages.replyWhenEnded(p.run.id) : null),
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
    resolve: async (_root, { input: { threadId, ...changes } }, ctx) => ({ thread: await ctx.services.threads.update(ctx.owner, threadId, changes) }),
  },
  { outputFields: (t) => ({ thread: t.field({ type: ThreadRef, resolve: (p) => p.thread }) }) },
);

builder.relayMutationField(
  'deleteThread',
  { inputFields: (t) => ({ threadId: t.id({ required: true }) }) },
  {
    description: 'Deletes a thread with its messages, runs and events; an active run is cancelled first.',
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.threads.delete(ctx.owner, input.threadId);
      return { deletedThreadId: input.threadId };
    },
  },
  { outputFields: (t) => ({ deletedThreadId: t.exposeID('deletedThreadId') }) },
);
