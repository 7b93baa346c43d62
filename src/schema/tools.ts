import type { FunctionTool, RunRow, StoredToolCall } from '../store/types.js';
import { builder } from './builder.js';

/** Function tools (definitions and inputs) and the calls a run made. */

export const FunctionToolRef = builder.objectRef<FunctionTool>('FunctionTool').implement({
  description: 'A function the model may call.',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    parameters: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'A JSON Schema object for the arguments.',
      resolve: (tool) => tool.parameters as Record<string, string> | null,
    }),
    strict: t.exposeBoolean('strict', { nullable: true }),
  }),
});

export const ToolCallRef = builder.objectRef<StoredToolCall>('ToolCall').implement({
  description: 'A call the model made during a run, with its output once submitted.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'call_…: give it back in submitToolOutputs.' }),
    name: t.exposeString('name'),
    arguments: t.exposeString('arguments', { description: 'JSON text, as the model wrote it.' }),
    output: t.exposeString('output', { nullable: true }),
  }),
});

export const RequiredActionRef = builder.objectRef<{ toolCalls: StoredToolCall[] }>('RequiredAction').implement({
  description: 'What a REQUIRES_ACTION run waits for: one output for each of these calls (submitToolOutputs).',
  fields: (t) => ({ toolCalls: t.field({ type: [ToolCallRef], resolve: (a) => a.toolCalls }) }),
});

export const FunctionToolInput = builder.inputType('FunctionToolInput', {
  description: 'A function the model may call. name: 1–64 letters, digits, _ or -.',
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    parameters: t.field({ type: 'JSONObject', description: 'A JSON Schema object for the arguments.' }),
    strict: t.boolean(),
  }),
});

const ToolChoiceModeEnum = builder.enumType('ToolChoiceMode', {
  description: 'AUTO: the model decides. NONE: no calls. REQUIRED: at least one call. FUNCTION: the function named in functionName.',
  values: ['AUTO', 'NONE', 'REQUIRED', 'FUNCTION'] as const,
});

export const ToolChoiceInput = builder.inputType('ToolChoiceInput', {
  fields: (t) => ({
    mode: t.field({ type: ToolChoiceModeEnum, required: true }),
    functionName: t.string({ description: 'Required for FUNCTION.' }),
  }),
});

export const ToolOutputInput = builder.inputType('ToolOutputInput', {
  fields: (t) => ({
    toolCallId: t.id({ required: true }),
    output: t.string({ required: true, description: 'What the function returned (text; often JSON).' }),
  }),
});

/** The calls of the round a run waits for, or null. */
export function requiredActionOf(run: RunRow): { toolCalls: StoredToolCall[] } | null {
  const round = run.toolRounds.at(-1);
  return run.status === 'REQUIRES_ACTION' && round && round.submittedAt === null ? { toolCalls: round.calls } : null;
}
