import type { RunStep } from '../services/runs/steps.js';
import type { AssistantRow, FunctionTool, MessageRow, RunRow, ThreadRow, ToolChoice, TruncationStrategy } from '../store/types.js';

/**
 * threadql's rows as the Assistants API v2's objects, as the openai SDK reads them: integer
 * Unix seconds, lower-case statuses, content as blocks, `null` where OpenAI sent null.
 */

export const seconds = (date: Date | null | undefined): number | null => (date ? Math.floor(date.getTime() / 1000) : null);
const lower = <T extends string>(value: T) => value.toLowerCase();

export function toolsOut(tools: FunctionTool[] | null) {
  return (tools ?? []).map((t) => ({
    type: 'function' as const,
    function: { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} }, strict: t.strict ?? false },
  }));
}

export function assistantOut(row: AssistantRow, defaultModel: string) {
  return {
    id: row.id,
    object: 'assistant' as const,
    created_at: seconds(row.createdAt)!,
    name: row.name,
    description: row.description,
    model: row.model ?? defaultModel,
    instructions: row.instructions,
    tools: toolsOut(row.tools),
    tool_resources: {},
    metadata: row.metadata,
    temperature: row.temperature ?? 1,
    top_p: 1,
    response_format: 'auto' as const,
  };
}

export function threadOut(row: ThreadRow) {
  return { id: row.id, object: 'thread' as const, created_at: seconds(row.createdAt)!, metadata: row.metadata, tool_resources: {} };
}

/** Text, then the refusal (if the model declined); an empty reply has no blocks yet. */
export function contentOut(row: Pick<MessageRow, 'content' | 'refusal'>) {
  const blocks: ({ type: 'text'; text: { value: string; annotations: never[] } } | { type: 'refusal'; refusal: string })[] = [];
  if (row.content !== '') blocks.push({ type: 'text', text: { value: row.content, annotations: [] } });
  if (row.refusal) blocks.push({ type: 'refusal', refusal: row.refusal });
  return blocks;
}

/** Why a message stopped short: its run's end (its run, for an assistant reply). */
function messageIncompleteReason(run: RunRow | undefined): string {
  switch (run?.status) {
    case 'CANCELLED':
      return 'run_cancelled';
    case 'EXPIRED':
      return 'run_expired';
    case 'INCOMPLETE':
      return run.incompleteReason === 'content_filter' ? 'content_filter' : 'max_tokens';
    default:
      return 'run_failed';
  }
}

/** `run`: the run that wrote an assistant reply (user messages carry no run on this surface). */
export function messageOut(row: MessageRow, run: RunRow | undefined) {
  const reply = row.role === 'ASSISTANT' && row.runId !== null;
  const endedAt = reply ? (run?.completedAt ?? null) : row.createdAt;
  return {
    id: row.id,
    object: 'thread.message' as const,
    created_at: seconds(row.createdAt)!,
    thread_id: row.threadId,
    role: lower(row.role) as 'user' | 'assistant',
    status: lower(row.status) as 'in_progress' | 'completed' | 'incomplete',
    content: contentOut(row),
    assistant_id: reply ? (run?.assistantId ?? null) : null,
    run_id: reply ? row.runId : null,
    attachments: [],
    metadata: row.metadata,
    completed_at: row.status === 'COMPLETED' ? seconds(endedAt ?? row.createdAt) : null,
    incomplete_at: row.status === 'INCOMPLETE' ? seconds(endedAt ?? row.createdAt) : null,
    incomplete_details: row.status === 'INCOMPLETE' ? { reason: messageIncompleteReason(run) } : null,
  };
}

function toolChoiceOut(choice: ToolChoice | null) {
  if (!choice) return 'auto';
  if (choice.mode === 'FUNCTION') return { type: 'function' as const, function: { name: choice.functionName ?? '' } };
  return lower(choice.mode);
}

function truncationOut(t: TruncationStrategy | null) {
  if (!t) return { type: 'auto' as const, last_messages: null };
  return { type: t.type === 'LAST_MESSAGES' ? ('last_messages' as const) : ('auto' as const), last_messages: t.lastMessages ?? null };
}

const runErrorCode = (code: string | null) => (code === 'PROVIDER_RATE_LIMITED' ? 'rate_limit_exceeded' : 'server_error');

function runIncompleteReason(run: RunRow): string {
  if (run.incompleteReason === 'max_prompt_tokens' || run.incompleteReason === 'content_filter') return run.incompleteReason;
  return 'max_completion_tokens';
}

/** `assistant`: the run's assistant, whose instructions and temperature apply when the run names none. */
export function runOut(run: RunRow, assistant: AssistantRow | undefined) {
  const ended = run.status !== 'QUEUED' && run.status !== 'IN_PROGRESS' && run.status !== 'REQUIRES_ACTION';
  const at = (status: RunRow['status']) => (run.status === status ? seconds(run.completedAt) : null);
  const round = run.toolRounds.at(-1);
  return {
    id: run.id,
    object: 'thread.run' as const,
    created_at: seconds(run.createdAt)!,
    thread_id: run.threadId,
    assistant_id: run.assistantId ?? '',
    status: lower(run.status) as 'queued' | 'in_progress' | 'requires_action' | 'completed' | 'failed' | 'cancelled' | 'incomplete' | 'expired',
    required_action:
      run.status === 'REQUIRES_ACTION' && round
        ? {
            type: 'submit_tool_outputs' as const,
            submit_tool_outputs: { tool_calls: round.calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) },
          }
        : null,
    last_error: run.status === 'FAILED' ? { code: runErrorCode(run.errorCode), message: run.errorMessage ?? 'The run failed.' } : null,
    expires_at: run.status === 'REQUIRES_ACTION' ? seconds(run.expiresAt) : null,
    started_at: seconds(run.startedAt),
    cancelled_at: at('CANCELLED'),
    failed_at: at('FAILED'),
    completed_at: at('COMPLETED'),
    incomplete_details: run.status === 'INCOMPLETE' ? { reason: runIncompleteReason(run) } : null,
    model: run.model,
    instructions: run.instructions ?? assistant?.instructions ?? '',
    tools: toolsOut(run.tools),
    metadata: run.metadata ?? {},
    usage:
      ended && run.totalTokens !== null
        ? { prompt_tokens: run.inputTokens ?? 0, completion_tokens: run.outputTokens ?? 0, total_tokens: run.totalTokens }
        : null,
    temperature: run.temperature ?? assistant?.temperature ?? 1,
    top_p: 1,
    max_prompt_tokens: run.maxPromptTokens ?? null,
    max_completion_tokens: run.maxCompletionTokens ?? null,
    truncation_strategy: truncationOut(run.truncation ?? null),
    response_format: 'auto' as const,
    tool_choice: toolChoiceOut(run.toolChoice),
    parallel_tool_calls: run.parallelToolCalls ?? true,
  };
}

/** `details`: a step as it starts in a stream (`tool_calls: []`, filled by deltas), else as it is. */
export function stepOut(step: RunStep, details: 'as-is' | 'empty' = 'as-is') {
  const at = (status: RunStep['status']) => (step.status === status ? seconds(step.endedAt) : null);
  const stepDetails =
    step.type === 'message_creation'
      ? { type: 'message_creation' as const, message_creation: { message_id: step.messageId } }
      : {
          type: 'tool_calls' as const,
          tool_calls:
            details === 'empty'
              ? []
              : step.calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments, output: c.output } })),
        };
  return {
    id: step.id,
    object: 'thread.run.step' as const,
    created_at: seconds(step.createdAt)!,
    run_id: step.run.id,
    assistant_id: step.run.assistantId ?? '',
    thread_id: step.run.threadId,
    type: step.type,
    status: lower(step.status) as 'in_progress' | 'completed' | 'cancelled' | 'failed' | 'expired',
    step_details: stepDetails,
    last_error: step.status === 'FAILED' ? { code: runErrorCode(step.run.errorCode), message: step.run.errorMessage ?? 'The run failed.' } : null,
    expired_at: at('EXPIRED'),
    cancelled_at: at('CANCELLED'),
    failed_at: at('FAILED'),
    completed_at: at('COMPLETED'),
    metadata: {},
    usage: null,
  };
}

/** OpenAI's list envelope (the SDK pages with the last item's id and `has_more`). */
export function listOut<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
}
