import type OpenAI from 'openai';
import type { LlmMessage, LlmRequest, LlmToolCall } from './types.js';

type Params = OpenAI.Responses.ResponseCreateParamsStreaming;

/**
 * The tool part of a Responses request. Nothing when there are no tools: `tool_choice` and
 * `parallel_tool_calls` without `tools` are refused by OpenAI (and mean nothing anyway).
 */
export function toResponsesTools(req: LlmRequest): Pick<Params, 'tools' | 'tool_choice' | 'parallel_tool_calls'> {
  if (req.tools.length === 0) return {};
  const choice = req.toolChoice;
  return {
    tools: req.tools.map((t) => ({
      type: 'function' as const,
      name: t.name,
      ...(t.description !== null && { description: t.description }),
      // Both are required fields of FunctionTool; null is the provider's default.
      parameters: t.parameters,
      strict: t.strict,
    })),
    ...(choice !== null && {
      tool_choice:
        choice.mode === 'FUNCTION'
          ? { type: 'function' as const, name: choice.functionName }
          : (choice.mode.toLowerCase() as 'auto' | 'none' | 'required'),
    }),
    ...(req.parallelToolCalls !== null && { parallel_tool_calls: req.parallelToolCalls }),
  };
}

/**
 * The thread as Responses input items (nothing is stored at OpenAI, so every turn is sent):
 * an assistant turn's calls become `function_call` items after its text, and each tool
 * output a `function_call_output` item with the same `call_id`.
 */
export function toResponsesInput(messages: LlmMessage[]): OpenAI.Responses.ResponseInputItem[] {
  return messages.flatMap((m): OpenAI.Responses.ResponseInputItem[] => {
    if (m.role === 'tool') return [{ type: 'function_call_output', call_id: m.toolCallId, output: m.content }];
    if (m.role !== 'assistant' || !m.toolCalls?.length) return [{ role: m.role, content: m.content }];
    return [
      // An empty assistant message is noise the model would read as "said nothing".
      ...(m.content !== '' ? [{ role: 'assistant' as const, content: m.content }] : []),
      ...m.toolCalls.map((c) => ({ type: 'function_call' as const, call_id: c.id, name: c.name, arguments: c.arguments })),
    ];
  });
}

interface PendingCall {
  callId: string;
  name: string;
  arguments: string;
  emitted: boolean;
}

/**
 * Follows the function calls of one streamed response. Parallel calls are separate output
 * items; the delta/done events name theirs by `item_id` (and `output_index`, used when an
 * OpenAI-compatible server leaves the item id out).
 */
export class ResponsesCallTracker {
  private readonly byItem = new Map<string, PendingCall>();
  private readonly byIndex = new Map<number, PendingCall>();
  private readonly emittedIds = new Set<string>();

  get anyEmitted(): boolean {
    return this.emittedIds.size > 0;
  }

  /** `response.output_item.added`: a function_call item starts a call. */
  start(outputIndex: number, item: OpenAI.Responses.ResponseOutputItem): void {
    if (item.type !== 'function_call') return;
    const call: PendingCall = { callId: item.call_id, name: item.name, arguments: item.arguments ?? '', emitted: false };
    if (item.id) this.byItem.set(item.id, call);
    this.byIndex.set(outputIndex, call);
  }

  /** `response.function_call_arguments.delta`. */
  append(itemId: string, outputIndex: number, delta: string): void {
    const call = this.find(itemId, outputIndex);
    if (call) call.arguments += delta;
  }

  /** `response.function_call_arguments.done`: the arguments are whole. Returns the call to emit, once. */
  argumentsDone(itemId: string, outputIndex: number, args: string, name: string | undefined): LlmToolCall | null {
    const call = this.find(itemId, outputIndex);
    if (!call) return null;
    call.arguments = args;
    if (name) call.name = name;
    return this.emit(call);
  }

  /** `response.output_item.done`: the item as the provider finished it (also completes a call whose args.done was missed). */
  itemDone(outputIndex: number, item: OpenAI.Responses.ResponseOutputItem): LlmToolCall | null {
    if (item.type !== 'function_call') return null;
    const known = (item.id && this.byItem.get(item.id)) || this.byIndex.get(outputIndex);
    const call = known ?? { callId: item.call_id, name: item.name, arguments: '', emitted: false };
    call.callId = item.call_id;
    call.name = item.name;
    call.arguments = item.arguments;
    return this.emit(call);
  }

  /** `response.completed`: calls in the final output that no item event announced. */
  missedIn(output: OpenAI.Responses.ResponseOutputItem[]): LlmToolCall[] {
    return output.flatMap((item) =>
      item.type === 'function_call' && !this.emittedIds.has(item.call_id)
        ? [this.emit({ callId: item.call_id, name: item.name, arguments: item.arguments, emitted: false })!]
        : [],
    );
  }

  private find(itemId: string | undefined, outputIndex: number): PendingCall | undefined {
    return (itemId ? this.byItem.get(itemId) : undefined) ?? this.byIndex.get(outputIndex);
  }

  private emit(call: PendingCall): LlmToolCall | null {
    if (call.emitted || this.emittedIds.has(call.callId)) return null;
    call.emitted = true;
    this.emittedIds.add(call.callId);
    return { id: call.callId, name: call.name, arguments: call.arguments };
  }
}
