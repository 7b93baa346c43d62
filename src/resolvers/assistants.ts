import { eq } from 'drizzle-orm';
import { newId } from '../db/ids.js';
import { findAssistant, required } from '../db/lookups.js';
import { assistants } from '../db/schema.js';
import { AssistantConnectionRef, AssistantRef } from '../schema/assistant.js';
import { builder } from '../schema/builder.js';
import { paginate, scopedRows } from '../schema/pagination.js';
import { TruncationStrategyInput } from '../schema/truncation.js';
import { checkMetadata, checkTruncation, checkName, checkOptionalText, checkTemperature } from './validate.js';

builder.queryField('assistant', (t) =>
  t.field({
    type: AssistantRef,
    nullable: true,
    description: 'An assistant by id (NOT_FOUND when unknown).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => required(findAssistant(ctx.db, id, ctx.owner), 'assistant', id),
  }),
);

builder.queryField('assistants', (t) =>
  t.connection({
    type: AssistantRef,
    description: 'Assistants, newest first.',
    resolve: (_root, args, ctx) =>
      paginate(args, scopedRows(ctx.db, assistants, { column: assistants.owner, value: ctx.owner }, true), true),
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
      metadata: t.field({ type: 'JSONObject' }),
    }),
  },
  {
    description: 'Creates an assistant.',
    resolve: (_root, { input }, ctx) => {
      const { limits } = ctx.config;
      const now = new Date();
      const assistant = ctx.db
        .insert(assistants)
        .values({
          id: newId('Assistant'),
          owner: ctx.owner,
          name: checkOptionalText('input.name', input.name, limits.titleChars),
          model: checkName('input.model', input.model),
          instructions: checkOptionalText('input.instructions', input.instructions, limits.instructionsChars),
          temperature: checkTemperature('input.temperature', input.temperature),
          truncation: checkTruncation('input.truncationStrategy', input.truncationStrategy),
          metadata: checkMetadata('input.metadata', input.metadata, limits),
          createdAt: now,
          updatedAt: now,
        })
        .returning()
        .get();
      return { assistant };
    },
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
      metadata: t.field({ type: 'JSONObject', description: 'Replaces the whole metadata object.' }),
    }),
  },
  {
    description: 'Changes the fields given; fields left out (or null) keep their value.',
    resolve: (_root, { input }, ctx) => {
      const { limits } = ctx.config;
      required(findAssistant(ctx.db, input.assistantId, ctx.owner), 'assistant', input.assistantId);
      const changes = {
        name: checkOptionalText('input.name', input.name, limits.titleChars) ?? undefined,
        model: checkName('input.model', input.model) ?? undefined,
        instructions: checkOptionalText('input.instructions', input.instructions, limits.instructionsChars) ?? undefined,
        temperature: checkTemperature('input.temperature', input.temperature) ?? undefined,
        truncation: checkTruncation('input.truncationStrategy', input.truncationStrategy) ?? undefined,
        metadata: input.metadata == null ? undefined : checkMetadata('input.metadata', input.metadata, limits),
      };
      const assistant = ctx.db
        .update(assistants)
        .set({ ...changes, updatedAt: new Date() })
        .where(eq(assistants.id, input.assistantId))
        .returning()
        .get();
      return { assistant };
    },
  },
  { outputFields: (t) => ({ assistant: t.field({ type: AssistantRef, resolve: (p) => p.assistant }) }) },
);

builder.relayMutationField(
  'deleteAssistant',
  { inputFields: (t) => ({ assistantId: t.id({ required: true }) }) },
  {
    description: 'Deletes an assistant. Its threads stay, without an assistant.',
    resolve: (_root, { input }, ctx) => {
      required(findAssistant(ctx.db, input.assistantId, ctx.owner), 'assistant', input.assistantId);
      ctx.db.delete(assistants).where(eq(assistants.id, input.assistantId)).run();
      return { deletedAssistantId: input.assistantId };
    },
  },
  { outputFields: (t) => ({ deletedAssistantId: t.exposeID('deletedAssistantId') }) },
);
