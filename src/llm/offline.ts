import { abortError } from './errors.js';
import type { LlmProvider, LlmRequest, LlmStreamEvent } from './types.js';

/**
 * The built-in model used when no provider is configured: no network, same reply for the same
 * input, streamed word by word so a fresh install shows real streaming end to end.
 */
export function createOfflineProvider(opts: { delayMs?: number } = {}): LlmProvider {
  const delayMs = opts.delayMs ?? 15;

  async function* stream(req: LlmRequest): AsyncGenerator<LlmStreamEvent> {
    const lastUser = req.messages.findLast((m) => m.role === 'user')?.content ?? '';
    const quoted = lastUser.length > 200 ? `${lastUser.slice(0, 200)}…` : lastUser;
    const text =
      `You said: "${quoted}". I am threadql's offline model: ` +
      'set OPENAI_API_KEY or OPENAI_BASE_URL to get real replies.';
    // Each word carries its following whitespace, so the deltas concatenate to `text`.
    const words = text.match(/\S+\s*/g) ?? [];
    for (const word of words) {
      await sleep(delayMs, req.signal);
      yield { type: 'delta', text: word };
    }
    const inputTokens = countWords([req.instructions ?? '', ...req.messages.map((m) => m.content)].join(' '));
    const outputTokens = words.length;
    yield {
      type: 'done',
      finishReason: 'stop',
      usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
    };
  }

  return { stream };
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
