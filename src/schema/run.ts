import { hasIdPrefix } from '../db/ids.js';
import { findAssistant, findMessage, findRun, findThread } from '../db/lookups.js';
import type { RunRow } from '../db/schema.js';
import type { LlmUsage } from '../llm/types.js';
import { AssistantRef } from './assistant.js';
import { builder } from './builder.js';
import { RunStatusEnum } from './enums.js';
import { MessageRef } from './message.js';
import { ThreadRef } from './thread.js';

export const UsageRef = builder.objectRef<LlmUsage>('Usage').implement({
  description: 'Token counts reported by the provider.',
  fields: (t) => ({
    inputTokens: t.exposeInt('inputTokens'),
    outputTokens: t.exposeInt('outputTokens'),
    totalTokens: t.exposeInt('totalTokens'),
  }),
});

export const RunErrorRef = builder.objectRef<{ code: string; message: string }>('RunError').implement({
  description: 'Why a run FAILED. code: PROVIDER_ERROR, PROVIDER_AUTH, PROVIDER_RATE_LIMITED, PROVIDER_TIMEOUT, SERVER_RESTARTED or SERVER_SHUTDOWN.',
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

export const RunRef = builder.objectRef<RunRow>('Run');

/** One connection type per node type, shared by every field that lists runs. */
export const RunConnectionRef = builder.connectionObject(
  { type: RunRef, name: 'RunConnection' },
  { name: 'RunEdge' },
);

builder.node(RunRef, {
  description: 'One model call answering a thread: queued, streamed into a reply, then ended.',
  id: { resolve: (r) => r.id },
  isTypeOf: (value) => hasIdPrefix(value, 'run_'),
  loadOne: (id, ctx) => findRun(ctx.db, id, ctx.owner) ?? null,
  fields: (t) => ({
    thread: t.field({ type: ThreadRef, resolve: (r, _args, ctx) => findThread(ctx.db, r.threadId)! }),
    assistant: t.field({
      type: AssistantRef,
      nullable: true,
      resolve: (r, _args, ctx) => findAssistant(ctx.db, r.assistantId) ?? null,
    }),
    status: t.expose('status', { type: RunStatusEnum }),
    model: t.exposeString('model'),
    reply: t.field({
      type: MessageRef,
      nullable: true,
      description: 'The assistant message this run writes; exists once output starts.',
      resolve: (r, _args, ctx) => (r.replyMessageId ? (findMessage(ctx.db, r.replyMessageId) ?? null) : null),
    }),
    error: t.field({
      type: RunErrorRef,
      nullable: true,
      resolve: (r) => (r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? '' } : null),
    }),
    incompleteReason: t.exposeString('incompleteReason', {
      nullable: true,
      description: 'For an INCOMPLETE run: why the provider stopped (length, content_filter).',
    }),
    usage: t.field({
      type: UsageRef,
      nullable: true,
      resolve: (r) =>
        r.totalTokens === null
          ? null
          : { inputTokens: r.inputTokens ?? 0, outputTokens: r.outputTokens ?? 0, totalTokens: r.totalTokens },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
  }),
});
