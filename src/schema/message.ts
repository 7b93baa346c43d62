import { hasIdPrefix } from '../ids.js';
import { builder } from './builder.js';
import { MessageRoleEnum, MessageStatusEnum } from './enums.js';
import { MessageRef, RunRef, ThreadRef } from './refs.js';

builder.node(MessageRef, {
  description: 'One message of a thread.',
  id: { resolve: (m) => m.id },
  isTypeOf: (value) => hasIdPrefix(value, 'msg_'),
  loadOne: (id, ctx) => ctx.services.messages.find(ctx.owner, id),
  fields: (t) => ({
    thread: t.field({ type: ThreadRef, resolve: async (m, _args, ctx) => (await ctx.loaders.thread.load(m.threadId))! }),
    role: t.expose('role', { type: MessageRoleEnum }),
    content: t.exposeString('content'),
    refusal: t.exposeString('refusal', {
      nullable: true,
      description: 'When the model declined to answer: its refusal text; content then holds whatever it wrote besides.',
    }),
    status: t.expose('status', { type: MessageStatusEnum }),
    run: t.field({
      type: RunRef,
      nullable: true,
      description: 'For an assistant reply, the run that wrote it; for a user message, the run it started.',
      resolve: async (m, _args, ctx) => (m.runId ? ((await ctx.loaders.run.load(m.runId)) ?? null) : null),
    }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});
