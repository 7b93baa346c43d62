import { hasIdPrefix } from '../ids.js';
import { builder } from './builder.js';
import { AssistantRef, ThreadConnectionRef, ThreadRef } from './refs.js';
import { FunctionToolRef } from './tools.js';
import { TruncationStrategyRef } from './truncation.js';

builder.node(AssistantRef, {
  description: 'A model configuration that threads talk to: model, instructions, temperature.',
  id: { resolve: (a) => a.id },
  isTypeOf: (value) => hasIdPrefix(value, 'asst_'),
  loadOne: (id, ctx) => ctx.services.assistants.find(ctx.owner, id),
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
    tools: t.field({ type: [FunctionToolRef], description: 'Functions its runs may call.', resolve: (a) => a.tools ?? [] }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    threads: t.connection({
      type: ThreadRef,
      description: 'Threads of this assistant, newest first.',
      resolve: (assistant, args, ctx) => ctx.services.threads.list(assistant.owner, { ...args, assistantId: assistant.id }),
    }, ThreadConnectionRef),
  }),
});
