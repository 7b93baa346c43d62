import { randomBytes } from 'node:crypto';
import type OpenAI from 'openai';
import type { LlmMessage, LlmRequest, LlmToolCall } from './types.js';

type Params = OpenAI.Chat.ChatCompletionCreateParamsStreaming;

/** The tool part of a Chat Completions request; nothing without tools (see toResponsesTools). */
export function toChatTools(req: LlmRequest): Pick<Params, 'tools' | 'tool_choice' | 'parallel_tool_calls'> {
  if (req.tools.length === 0) return {};
  const choice = req.toolChoice;
  return {
    tools: req.tools.map((t) => ({
      type: 'function' as const,
      function: {
        name: t.name,
        // All optional here; an absent `parameters` is a function without parameters.
        ...(t.description !== null && { description: t.description }),
        ...(t.parameters !== null && { parameters: t.parameters }),
        ...(t.strict !== null && { strict: t.strict }),
      },
    })),
    ...(choice !== null && {
      tool_choice:
        choice.mode === 'FUNCTION'
          ? { type: 'function' as const, function: { name: choice.functionName } }
          : (choice.mode.toLowerCase() as 'auto' | 'none' | 'required'),
    }),
    ...(req.parallelToolCalls !== null && { parallel_tool_calls: req.parallelToolCalls }),
  };
}

export function toChatMessage(m: LlmMessage): OpenAI.Chat.ChatCompletionMessageParam {
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
  if (m.role !== 'assistant' || !m.toolCalls?.length) return { role: m.role, content: m.content };
  return {
    role: 'assistant',
    // OpenAI's own shape for a turn that only called tools.
    content: m.content !== '' ? m.content : null,
    tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
  };
}

/**
 * Assembles streamed `delta.tool_calls`: the first piece of a call carries its `index`, `id`
 * and name, later pieces the same index and more argument text. A call is whole only when the
 * choice finishes, so calls are emitted then, in index order.
 */
export class ChatCallAssembler {
  private readonly calls = new Map<number, { id: string; name: string; arguments: string }>();

  get size(): number {
    return this.calls.size;
  }

  add(deltas: OpenAI.Chat.ChatCompletionChunk.Choice.Delta.ToolCall[]): void {
    for (const d of deltas) {
      let call = this.calls.get(d.index);
      if (!call) {
        call = { id: '', name: '', arguments: '' };
        this.calls.set(d.index, call);
      }
      // As the SDK's own accumulator: id and name replace (some servers repeat them), arguments append.
      if (d.id) call.id = d.id;
      if (d.function?.name) call.name = d.function.name;
      if (d.function?.arguments) call.arguments += d.function.arguments;
    }
  }

  /** The assembled calls, in index order; the assembler is empty afterwards. */
  take(): LlmToolCall[] {
    const out = [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      // Some OpenAI-compatible servers send no id; the output must still name its call.
      .map(([, c]) => ({ ...c, id: c.id || `call_${randomBytes(12).toString('hex')}` }));
    this.calls.clear();
    return out;
  }
}
