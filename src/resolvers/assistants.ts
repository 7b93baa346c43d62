import { builder } from '../schema/builder.js';
import { AssistantConnectionRef, AssistantRef } from '../schema/refs.js';
import { FunctionToolInput } from '../schema/tools.js';
import { TruncationStrategyInput } from '../schema/truncation.js';

builder.queryField('assistant', (t) =>
  t.field({
    type: AssistantRef,
    nullable: true,
    description: 'An assistant by id (NOT_FOUND when unknown).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.assistants.get(ctx.owner, id),
  }),
);

builder.queryField('assistants', (t) =>
  t.connection({
    type: AssistantRef,
    description: 'Assistants, newest first.',
    resolve: (_root, args, ctx) => ctx.services.assistants.list(ctx.owner, args),
  }, AssistantConnectionRef),
);

builder.relayMutationField(
  'createAssistant',
  {
    inputFields: (t) => ({
      name: t.string(),
      model: t.string({ description: 'Model for runs of this assistant; default: the server\'s DEFAULT_MODEL.' }),
      instructions: t.string(),
      temperature: t.float(),
      truncationStrategy: t.field({ type: TruncationStrategyInput }),
      tools: t.field({ type: [FunctionToolInput], description: 'Functions its runs may call (at most 128).' }),
      metadata: t.field({ type: 'JSONObject' }),
    }),
  },
  {
    description: 'Creates an assistant.',
    resolve: async (_root, { input }, ctx) => ({ assistant: await ctx.services.assistants.create(ctx.owner, input) }),
  },
  { outputFields: (t) => ({ assistant: t.field({ type: AssistantRef, resolve: (p) => p.assistant }) }) },
);

builder.relayMutationField(
  'updateAssistant',
  {
    inputFields: (t) => ({
      assistantId: t.id({ required: true }),
      name: t.string(),
      model: t.string(),
      instructions: t.string(),
      temperature: t.float(),
      truncationStrategy: t.field({ type: TruncationStrategyInput }),
      tools: t.field({ type: [FunctionToolInput], description: 'Replaces the whole list ([] removes every tool).' }),
      metadata: t.field({ type: 'JSONObject', description: 'Replaces the whole metadata object.' }),
    }),
  },
  {
    description: 'Changes the fields given; fields left out (or null) keep their value.',
    resolve: async (_root, { input: { assistantId, ...changes } }, ctx) => ({
      assistant: await ctx.services.assistants.update(ctx.owner, assistantId, changes),
    }),
  },
  { outputFields: (t) => ({ assistant: t.field({ type: AssistantRef, resolve: (p) => p.assistant }) }) },
);

builder.relayMutationField(
  'deleteAssistant',
  { inputFields: (t) => ({ assistantId: t.id({ required: true }) }) },
  {
    description: 'Deletes an assistant. Its threads stay, without an assistant.',
    resolve: async (_root, { input }, ctx) => {
      await ctx.services.assistants.delete(ctx.owner, input.assistantId);
      return { deletedAssistantId: input.assistantId };
    },
  },
  { outputFields: (t) => ({ deletedAssistantId: t.exposeID('deletedAssistantId') }) },
);
