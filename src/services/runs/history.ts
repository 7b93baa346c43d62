import type { LlmMessage } from '../../llm/types.js';
import type { AssistantRow, MessageRow, RunRow, Store, ThreadRow } from '../../store/types.js';
import { approximateTokens } from './truncation.js';

export interface RunInput {
  instructions: string | null;
  temperature: number | null;
  messages: LlmMessage[];
  /** What had to be sent (the run's own turn, the newest message) is over the token budget. */
  overBudget: boolean;
}

/** Messages read per page, newest first, until the run's budget is spent. */
const HISTORY_PAGE = 50;

/**
 * Rows the request that started a run wrote or read in the same moment, so its first leg
 * need not read them again: its thread, its assistant, the user message it answers (null: it
 * has none), and, when that request created the thread, every message of it (oldest first).
 * Without them (a queued run, a resumed one) everything is read from the store.
 */
export interface KnownRows {
  thread: ThreadRow;
  assistant: AssistantRow | undefined;
  starter: MessageRow | null;
  wholeThread?: MessageRow[];
}

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
export async function buildRunInput(store: Store, run: RunRow, defaultMaxInputTokens: number, known?: KnownRows): Promise<RunInput> {
  const [assistant, thread] = known
    ? [known.assistant, known.thread]
    : await Promise.all([run.assistantId ? store.assistants.find(run.assistantId) : undefined, store.threads.find(run.threadId)]);
  const instructions = run.instructions ?? assistant?.instructions ?? null;
  const strategy = run.truncation ?? thread?.truncation ?? assistant?.truncation ?? { type: 'AUTO' as const };
  const maxMessages = strategy.type === 'LAST_MESSAGES' && strategy.lastMessages != null ? Math.max(1, strategy.lastMessages) : Infinity;
  let budget = (strategy.maxInputTokens ?? defaultMaxInputTokens) - (instructions ? approximateTokens(instructions) : 0);

  const newestFirst: LlmMessage[] = [];
  /**
   * Keeps a unit of messages (oldest first; a run's tool rounds and reply go together, so a
   * call is never separated from its output) if the strategy allows; false once nothing older
   * can be kept. The run's own rounds and user message are always sent.
   */
  const keep = (unit: LlmMessage[], always = false): boolean => {
    if (unit.length === 0) return true;
    if (!always && newestFirst.length + unit.length > maxMessages) return false;
    const cost = unit.reduce((n, m) => n + approximateTokens(contentOf(m)), 0);
    if (!always && cost > budget && newestFirst.length > 0) return false;
    budget -= cost;
    for (const m of [...unit].reverse()) newestFirst.push(m);
    return true;
  };

  keep(roundsOf(run), true);
  const own = known ? (known.starter ?? undefined) : await ownUserMessage(store, run);
  if (own) keep([toLlmMessage(own)], true);
  let before = own ? own.pos : null;
  const newestFirstPage = (beforePos: number | null) =>
    known?.wholeThread
      ? Promise.resolve(newestFirstOf(known.wholeThread, beforePos, HISTORY_PAGE))
      : store.messages.newestFirst(run.threadId, beforePos, HISTORY_PAGE);
  for (;;) {
    const page = await newestFirstPage(before);
    if (page.length === 0) break;
    before = page.at(-1)!.pos;
    const starters = page.filter((m) => m.role === 'USER' && m.runId && m.runId !== run.id).map((m) => m.runId!);
    // Replies whose starter is not on this page may belong to runs started without a message of
    // their own (the Assistants API's runs.create): those answers stay where they were written.
    const unplaced = page.filter((m) => m.role === 'ASSISTANT' && m.runId && m.runId !== run.id && !starters.includes(m.runId)).map((m) => m.runId!);
    // A run's one reply was written after its user message: usually on this page, read with it;
    // only the others (on a newer page, or after this run's own message) are read.
    const repliesHere = page.filter((m) => m.role === 'ASSISTANT' && m.runId && starters.includes(m.runId));
    const repliesElsewhere = starters.filter((id) => !repliesHere.some((m) => m.runId === id));
    const [replyRows, runRows, unplacedStarters] = await Promise.all([
      repliesElsewhere.length > 0 ? store.messages.repliesOf(repliesElsewhere).then((rows) => [...repliesHere, ...rows]) : repliesHere,
      starters.length + unplaced.length > 0 ? store.runs.findMany([...starters, ...unplaced]) : [],
      unplaced.length > 0 ? store.messages.startersOf(unplaced) : [],
    ]);
    const replies = new Map(replyRows.map((r) => [r.runId!, r]));
    const runsById = new Map(runRows.map((r) => [r.id, r]));
    const started = new Set(unplacedStarters.map((m) => m.runId));
    let full = false;
    for (const m of page) {
      if (m.role === 'ASSISTANT' && m.runId) {
        const starterless = m.runId !== run.id && !starters.includes(m.runId) && !started.has(m.runId) ? runsById.get(m.runId) : undefined;
        if (starterless && !keep(answerOf(starterless, m))) {
          full = true;
          break;
        }
        continue; // otherwise placed after the user message that started its run
      }
      const earlier = m.role === 'USER' && m.runId ? runsById.get(m.runId) : undefined;
      if (earlier && !keep(answerOf(earlier, replies.get(earlier.id)))) full = true;
      if (!full && m.status === 'COMPLETED' && !keep([toLlmMessage(m)])) full = true;
      if (full) break;
    }
    if (full || page.length < HISTORY_PAGE) break;
  }
  return { instructions, temperature: run.temperature ?? assistant?.temperature ?? null, messages: newestFirst.reverse(), overBudget: budget < 0 };
}

/** What MessageStore.newestFirst returns, from a thread's messages held in memory (oldest first). */
function newestFirstOf(messages: MessageRow[], beforePos: number | null, limit: number): MessageRow[] {
  return messages
    .filter((m) => beforePos === null || m.pos < beforePos)
    .reverse()
    .slice(0, limit);
}

/** The user message that started this run (the conversation ends there). */
async function ownUserMessage(store: Store, run: RunRow): Promise<MessageRow | undefined> {
  const starters = await store.messages.startersOf([run.id]);
  return starters[0];
}

/** A run's tool rounds as the provider sees them: each round's text and calls, then their outputs. */
function roundsOf(run: RunRow): LlmMessage[] {
  const out: LlmMessage[] = [];
  for (const round of run.toolRounds) {
    out.push({ role: 'assistant', content: round.text, toolCalls: round.calls.map((c) => ({ id: c.providerId, name: c.name, arguments: c.arguments })) });
    for (const c of round.calls) if (c.output !== null) out.push({ role: 'tool', toolCallId: c.providerId, content: c.output });
  }
  return out;
}

/**
 * An earlier run's answer: its rounds (only those whose outputs came), then the rest of its
 * reply, when the reply completed.
 */
function answerOf(run: RunRow, reply: MessageRow | undefined): LlmMessage[] {
  const rounds = run.toolRounds.filter((r) => r.submittedAt !== null);
  if (reply?.status !== 'COMPLETED') return [];
  const roundsText = rounds.reduce((n, r) => n + r.text.length, 0);
  const final = toLlmMessage({ ...reply, content: reply.content.slice(roundsText) });
  return [...roundsOf({ ...run, toolRounds: rounds }), ...(final.role === 'assistant' && final.content === '' && rounds.length > 0 ? [] : [final])];
}

function contentOf(m: LlmMessage): string {
  return m.role === 'assistant' && m.toolCalls ? m.content + m.toolCalls.map((c) => c.name + c.arguments).join('') : m.content;
}

function toLlmMessage(m: MessageRow): LlmMessage {
  // A refusal goes back as what the assistant said, so the model knows it refused (and no turn is empty).
  const content = m.refusal ? [m.content, m.refusal].filter((c) => c !== '').join('\n\n') : m.content;
  return { role: m.role === 'USER' ? 'user' : m.role === 'ASSISTANT' ? 'assistant' : 'system', content };
}
