import { builder } from '../schema/builder.js';
import { OnActiveRunEnum } from '../schema/enums.js';
import { MessageRef, RunRef } from '../schema/refs.js';
import { FunctionToolInput, ToolChoiceInput } from '../schema/tools.js';

builder.relayMutationField(
  'sendMessage',
  {
    inputFields: (t) => ({
      threadId: t.id({ required: true }),
      content: t.string({ required: true }),
      idempotencyKey: t.string({
        description: 'Retrying with the same key on the same thread returns the original message and run.',
      }),
      model: t.string({ description: 'Model for this run; default: the assistant\'s, else DEFAULT_MODEL.' }),
      instructions: t.string({ description: 'Instructions for this run, instead of the assistant\'s.' }),
      metadata: t.field({ type: 'JSONObject' }),
      onActiveRun: t.field({ type: OnActiveRunEnum, defaultValue: 'REJECT' }),
      tools: t.field({ type: [FunctionToolInput], description: 'Functions this run may call, instead of the assistant\'s.' }),
      toolChoice: t.field({ type: ToolChoiceInput }),
      parallelToolCalls: t.boolean({ description: 'Whether the model may call several functions at once; default: the provider\'s.' }),
    }),
  },
  {
    description: 'Adds a user message to a thread and starts a run that answers it.',
    resolve: (_root, { input: { threadId, ...input } }, ctx) =>
      ctx.services.messages.send(ctx.owner, threadId, input, () => ctx.services.access.admitRun(ctx.owner)),
  },
  {
    outputFields: (t) => ({
      message: t.field({ type: MessageRef, resolve: (p) => p.message }),
      run: t.field({ type: RunRef, resolve: (p) => p.run }),
      reply: t.field({
        type: MessageRef,
        nullable: true,
        description: 'Resolves when the run ends (use @defer): its reply, or null.',
        resolve: (p, _args, ctx) => ctx.services.messages.replyWhenEnded(p.run.id),
      }),
    }),
  },
);
