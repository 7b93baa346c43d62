import { hasIdPrefix } from '../db/ids.js';
import { findMessage, findRun, findThread } from '../db/lookups.js';
import type { MessageRow } from '../db/schema.js';
import { builder } from './builder.js';
import { MessageRoleEnum, MessageStatusEnum } from './enums.js';
import { RunRef } from './run.js';
import { ThreadRef } from './thread.js';

export const MessageRef = builder.objectRef<MessageRow>('Message');

/** One connection type per node type, shared by every field that lists messages. */
export const MessageConnectionRef = builder.connectionObject(
  { type: MessageRef, name: 'MessageConnection' },
  { name: 'MessageEdge' },
);

builder.node(MessageRef, {
  description: 'One message of a thread.',
  id: { resolve: (m) => m.id },
  isTypeOf: (value) => hasIdPrefix(value, 'msg_'),
  loadOne: (id, ctx) => findMessage(ctx.db, id, ctx.owner) ?? null,
  fields: (t) => ({
    thread: t.field({ type: ThreadRef, resolve: (m, _args, ctx) => findThread(ctx.db, m.threadId)! }),
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
      resolve: (m, _args, ctx) => (m.runId ? (findRun(ctx.db, m.runId) ?? null) : null),
    }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});
