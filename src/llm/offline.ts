import { abortError } from './errors.js';
import { offlineToolCall, offlineToolReply } from './offline-tools.js';
import type { LlmMessage, LlmProvider, LlmRequest, LlmStreamEvent } from './types.js';

/**
 * The built-in model used when no provider is configured: no network, same reply for the same
 * input, streamed word by word so a fresh install shows real streaming end to end.
 */
export function createOfflineProvider(opts: { delayMs?: number } = {}): LlmProvider {
  const delayMs = opts.delayMs ?? 15;

  async function* stream(req: LlmRequest): AsyncGenerator<LlmStreamEvent> {
    const inputTokens = countWords([req.instructions ?? '', ...req.messages.map(messageText)].join(' '));
    const call = offlineToolCall(req);
    if (call) {
      await sleep(delayMs, req.signal);
      yield { type: 'tool_call', call };
      const outputTokens = countWords(`${call.name} ${call.arguments}`);
      yield { type: 'done', finishReason: 'tool_calls', usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens } };
      return;
    }
    const text = offlineToolReply(req.messages) ?? echo(req.messages);
    // Each word carries its following whitespace, so the deltas concatenate to `text`.
    const all = text.match(/\S+\s*/g) ?? [];
    // A word is a token here: max_completion_tokens cuts the reply short, as a model's limit would.
    const words = req.maxOutputTokens != null ? all.slice(0, req.maxOutputTokens) : all;
    for (const word of words) {
      await sleep(delayMs, req.signal);
      yield { type: 'delta', text: word };
    }
    const outputTokens = words.length;
    yield {
      type: 'done',
      finishReason: words.length < all.length ? 'length' : 'stop',
      usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
    };
  }

  return { stream };
}

function echo(messages: LlmMessage[]): string {
  const lastUser = messages.findLast((m) => m.role === 'user')?.content ?? '';
  const quoted = lastUser.length > 200 ? `${lastUser.slice(0, 200)}…` : lastUser;
  return `You said: "${quoted}". I am threadql's offline model: set OPENAI_API_KEY or OPENAI_BASE_URL to get real replies.`;
}

function messageText(m: LlmMessage): string {
  if (m.role !== 'assistant' || !m.toolCalls) return m.content;
  return [m.content, ...m.toolCalls.map((c) => `${c.name} ${c.arguments}`)].join(' ');
}

function countWords(s: string): number {
  return s.match(/\S+/g)?.length ?? 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
