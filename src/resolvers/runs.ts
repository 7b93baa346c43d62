import { builder } from '../schema/builder.js';
import { MessageRef, RunRef } from '../schema/refs.js';
import { ToolOutputInput } from '../schema/tools.js';

builder.queryField('run', (t) =>
  t.field({
    type: RunRef,
    nullable: true,
    description: 'A run by id (NOT_FOUND when unknown).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.runs.get(ctx.owner, id),
  }),
);

builder.relayMutationField(
  'cancelRun',
  { inputFields: (t) => ({ runId: t.id({ required: true }) }) },
  {
    description: 'Cancels a run; its partial reply is kept as INCOMPLETE. A finished run is returned unchanged.',
    resolve: async (_root, { input }, ctx) => ({ run: await ctx.services.runs.cancel(input.runId, ctx.owner) }),
  },
  { outputFields: (t) => ({ run: t.field({ type: RunRef, resolve: (p) => p.run }) }) },
);

builder.relayMutationField(
  'submitToolOutputs',
  {
    inputFields: (t) => ({
      runId: t.id({ required: true }),
      toolOutputs: t.field({ type: [ToolOutputInput], required: true, description: 'One output for every call in requiredAction.toolCalls.' }),
    }),
  },
  {
    description:
      'Gives a REQUIRES_ACTION run the outputs of its tool calls, all at once; the same run goes on. The same submission retried returns the run unchanged.',
    resolve: async (_root, { input }, ctx) => ({ run: await ctx.services.runs.submitToolOutputs(ctx.owner, input.runId, input.toolOutputs) }),
  },
  {
    outputFields: (t) => ({
      run: t.field({ type: RunRef, resolve: (p) => p.run }),
      reply: t.field({
        type: MessageRef,
        nullable: true,
        description: 'Resolves when the run ends or requires action again (use @defer): its reply, or null.',
        resolve: (p, _args, ctx) => ctx.services.messages.replyWhenEnded(p.run.id),
      }),
    }),
  },
);
