import type { LlmMessage } from '../../llm/types.js';
import type { MessageRow, RunRow, Store } from '../../store/types.js';
import { approximateTokens } from './truncation.js';

export interface RunInput {
  instructions: string | null;
  temperature: number | null;
  messages: LlmMessage[];
}

/** Messages read per page, newest first, until the run's budget is spent. */
const HISTORY_PAGE = 50;

/**
 * What the provider receives for a run: the instructions (the run's own, else the assistant's)
 * and the thread's completed messages, newest kept first within the thread's truncation
 * strategy (else the assistant's, else AUTO within the default token budget). The thread is
 * read newest first, a page at a time, only as far back as the budget reaches.
 *
 * Messages are stored in the order they were written, so with queued runs a later user message
 * can sit before an earlier run's reply. The conversation puts each run's reply right after the
 * user message that started it, and leaves out user messages sent after this run's own.
 */
export async function buildRunInput(store: Store, run: RunRow, defaultMaxInputTokens: number): Promise<RunInput> {
  const [assistant, thread] = await Promise.all([
    run.assistantId ? store.assistants.find(run.assistantId) : undefined,
    store.threads.find(run.threadId),
  ]);
  const instructions = run.instructions ?? assistant?.instructions ?? null;
  const strategy = thread?.truncation ?? assistant?.truncation ?? { type: 'AUTO' as const };
  const maxMessages = strategy.type === 'LAST_MESSAGES' && strategy.lastMessages != null ? Math.max(1, strategy.lastMessages) : Infinity;
  let budget = (strategy.maxInputTokens ?? defaultMaxInputTokens) - (instructions ? approximateTokens(instructions) : 0);

  const newestFirst: LlmMessage[] = [];
  /** Keeps a message if the strategy allows; false once nothing older can be kept. */
  const keep = (m: MessageRow): boolean => {
    if (newestFirst.length >= maxMessages) return false;
    const cost = approximateTokens(m.content);
    // The newest message is always sent, so a run can always answer the message that started it.
    if (cost > budget && newestFirst.length > 0) return false;
    budget -= cost;
    newestFirst.push(toLlmMessage(m));
    return true;
  };

  const own = await ownUserMessage(store, run);
  let before = own ? own.pos + 1 : null;
  for (;;) {
    const page = await store.messages.newestFirst(run.threadId, before, HISTORY_PAGE);
    if (page.length === 0) break;
    before = page.at(-1)!.pos;
    const starters = page.filter((m) => m.role === 'USER' && m.runId && m.runId !== run.id).map((m) => m.runId!);
    const replies = new Map((await store.messages.repliesOf(starters)).map((r) => [r.runId!, r]));
    let full = false;
    for (const m of page) {
      if (m.role === 'ASSISTANT' && m.runId) continue; // placed after the user message that started its run
      const reply = m.role === 'USER' && m.runId ? replies.get(m.runId) : undefined;
      if (reply?.status === 'COMPLETED' && !keep(reply)) full = true;
      if (!full && m.status === 'COMPLETED' && !keep(m)) full = true;
      if (full) break;
    }
    if (full || page.length < HISTORY_PAGE) break;
  }
  return { instructions, temperature: assistant?.temperature ?? null, messages: newestFirst.reverse() };
}

/** The user message that started this run (the conversation ends there). */
async function ownUserMessage(store: Store, run: RunRow): Promise<MessageRow | undefined> {
  const starters = await store.messages.startersOf([run.id]);
  return starters[0];
}

function toLlmMessage(m: MessageRow): LlmMessage {
  // A refusal goes back as what the assistant said, so the model knows it refused (and no turn is empty).
  const content = m.refusal ? [m.content, m.refusal].filter((c) => c !== '').join('\n\n') : m.content;
  return { role: m.role === 'USER' ? 'user' : m.role === 'ASSISTANT' ? 'assistant' : 'system', content };
}
