import type { LlmMessage, LlmRequest, LlmToolCall } from './types.js';

/**
 * The offline model's function calling, so a fresh install can exercise tools end to end
 * without a provider. Deterministic: the same thread gives the same call and the same ids.
 *
 * - The last message is a user message `call <tool_name>` or `call <tool_name> <arguments>`
 *   and that tool is offered: the model calls it with the text after the name, verbatim, as
 *   its arguments (`{}` when there is none; not checked, so invalid JSON can be tried too).
 *   toolChoice NONE: never; FUNCTION: only that function.
 * - No such message, toolChoice FUNCTION: that function is called with `{}`; REQUIRED: the first tool.
 * - The last message is a tool output: no call, the reply reports the output(s).
 */
export function offlineToolCall(req: LlmRequest): LlmToolCall | null {
  const last = req.messages.at(-1);
  if (req.tools.length === 0 || last?.role !== 'user') return null;
  const choice = req.toolChoice;
  if (choice?.mode === 'NONE') return null;
  const asked = /^call\s+(\S+)(?:\s+([\s\S]*\S))?\s*$/.exec(last.content.trim());
  let name: string | undefined;
  let args = '{}';
  if (asked && req.tools.some((t) => t.name === asked[1])) {
    name = asked[1];
    args = asked[2] ?? '{}';
  }
  if (choice?.mode === 'FUNCTION' && name !== choice.functionName) {
    name = choice.functionName;
    args = '{}';
  } else if (choice?.mode === 'REQUIRED' && name === undefined) {
    name = req.tools[0]!.name;
  }
  if (name === undefined) return null;
  // Numbered by the calls already in the thread: unique within it, and the same on a retry.
  const earlier = req.messages.reduce((n, m) => n + (m.role === 'assistant' ? (m.toolCalls?.length ?? 0) : 0), 0);
  return { id: `call_offline_${earlier + 1}`, name, arguments: args };
}

/** When the thread ends with tool outputs: the reply reporting them, else null. */
export function offlineToolReply(messages: LlmMessage[]): string | null {
  const outputs: Extract<LlmMessage, { role: 'tool' }>[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'tool') break;
    outputs.unshift(m);
  }
  if (outputs.length === 0) return null;
  const names = new Map<string, string>();
  for (const m of messages) if (m.role === 'assistant') for (const c of m.toolCalls ?? []) names.set(c.id, c.name);
  return outputs
    .map((o) => `The tool ${names.get(o.toolCallId) ?? o.toolCallId} returned: ${clip(o.content)}`)
    .join('\n');
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
