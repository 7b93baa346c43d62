import { hasIdPrefix } from '../db/ids.js';
import { findAssistant } from '../db/lookups.js';
import { threads, type AssistantRow } from '../db/schema.js';
import { builder } from './builder.js';
import { TruncationStrategyRef } from './truncation.js';
import { paginate, scopedRows } from './pagination.js';
import { ThreadConnectionRef, ThreadRef } from './thread.js';

export const AssistantRef = builder.objectRef<AssistantRow>('Assistant');

/** One connection type per node type, shared by every field that lists assistants. */
export const AssistantConnectionRef = builder.connectionObject(
  { type: AssistantRef, name: 'AssistantConnection' },
  { name: 'AssistantEdge' },
);

builder.node(AssistantRef, {
  description: 'A model configuration that threads talk to: model, instructions, temperature.',
  id: { resolve: (a) => a.id },
  isTypeOf: (value) => hasIdPrefix(value, 'asst_'),
  loadOne: (id, ctx) => findAssistant(ctx.db, id, ctx.owner) ?? null,
  fields: (t) => ({
    name: t.exposeString('name', { nullable: true }),
    model: t.exposeString('model', { nullable: true, description: 'Model for this assistant\'s runs; null: the server\'s DEFAULT_MODEL.' }),
    instructions: t.exposeString('instructions', { nullable: true, description: 'System instructions sent with every run.' }),
    temperature: t.exposeFloat('temperature', { nullable: true }),
    truncationStrategy: t.field({
      type: TruncationStrategyRef,
      nullable: true,
      description: 'How much history runs send; null: AUTO within the server\'s token budget.',
      resolve: (row) => row.truncation ?? null,
    }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    threads: t.connection({
      type: ThreadRef,
      description: 'Threads of this assistant, newest first.',
      resolve: (assistant, args, ctx) =>
        paginate(args, scopedRows(ctx.db, threads, { column: threads.assistantId, value: assistant.id }, true), true),
    }, ThreadConnectionRef),
  }),
});
