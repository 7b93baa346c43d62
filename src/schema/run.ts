import { hasIdPrefix } from '../ids.js';
import { builder } from './builder.js';
import { RunStatusEnum } from './enums.js';
import { AssistantRef, MessageRef, RunRef, ThreadRef, UsageRef } from './refs.js';
import { FunctionToolRef, RequiredActionRef, requiredActionOf, ToolCallRef } from './tools.js';

UsageRef.implement({
  description: 'Token counts reported by the provider.',
  fields: (t) => ({
    inputTokens: t.exposeInt('inputTokens'),
    outputTokens: t.exposeInt('outputTokens'),
    totalTokens: t.exposeInt('totalTokens'),
  }),
});

export const RunErrorRef = builder.objectRef<{ code: string; message: string }>('RunError').implement({
  description: 'Why a run FAILED. code: PROVIDER_ERROR, PROVIDER_AUTH, PROVIDER_RATE_LIMITED, PROVIDER_TIMEOUT, SERVER_RESTARTED, SERVER_SHUTDOWN or STORAGE_ERROR.',
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

builder.node(RunRef, {
  description: 'One model call answering a thread: queued, streamed into a reply, then ended.',
  id: { resolve: (r) => r.id },
  isTypeOf: (value) => hasIdPrefix(value, 'run_'),
  loadOne: (id, ctx) => ctx.services.runs.find(ctx.owner, id),
  fields: (t) => ({
    thread: t.field({ type: ThreadRef, resolve: async (r, _args, ctx) => (await ctx.loaders.thread.load(r.threadId))! }),
    assistant: t.field({
      type: AssistantRef,
      nullable: true,
      resolve: async (r, _args, ctx) => (r.assistantId ? ((await ctx.loaders.assistant.load(r.assistantId)) ?? null) : null),
    }),
    status: t.expose('status', { type: RunStatusEnum }),
    model: t.exposeString('model'),
    reply: t.field({
      type: MessageRef,
      nullable: true,
      description: 'The assistant message this run writes; exists once output starts.',
      resolve: async (r, _args, ctx) => (r.replyMessageId ? ((await ctx.loaders.message.load(r.replyMessageId)) ?? null) : null),
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
    requiredAction: t.field({
      type: RequiredActionRef,
      nullable: true,
      description: 'While REQUIRES_ACTION: the calls that need outputs (submitToolOutputs). Else null.',
      resolve: (r) => requiredActionOf(r),
    }),
    toolCalls: t.field({
      type: [ToolCallRef],
      description: 'Every tool call of this run, in order, with outputs once submitted.',
      resolve: (r) => r.toolRounds.flatMap((round) => round.calls),
    }),
    tools: t.field({ type: [FunctionToolRef], description: 'The functions this run may call.', resolve: (r) => r.tools ?? [] }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'While REQUIRES_ACTION: the deadline for submitToolOutputs (then EXPIRED).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
  }),
});
