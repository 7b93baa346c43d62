import type { TruncationStrategy } from '../db/schema.js';
import type { LlmMessage } from '../llm/types.js';

/** A rough token count (about 4 characters a token, plus a little per message) — no tokenizer needed. */
export function approximateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

/**
 * Keeps the newest messages allowed by the strategy: at most `lastMessages` (LAST_MESSAGES),
 * and within `maxInputTokens` together with the instructions. The newest message is always
 * kept, so a run can always answer the message that started it.
 */
export function truncateConversation(
  messages: LlmMessage[],
  instructions: string | null,
  strategy: TruncationStrategy,
  defaultMaxInputTokens: number,
): LlmMessage[] {
  let kept = messages;
  if (strategy.type === 'LAST_MESSAGES' && strategy.lastMessages != null) kept = kept.slice(-Math.max(1, strategy.lastMessages));
  let budget = (strategy.maxInputTokens ?? defaultMaxInputTokens) - (instructions ? approximateTokens(instructions) : 0);
  let start = kept.length;
  while (start > 0) {
    const cost = approximateTokens(kept[start - 1]!.content);
    if (cost > budget && start < kept.length) break;
    budget -= cost;
    start--;
  }
  return kept.slice(start);
}
