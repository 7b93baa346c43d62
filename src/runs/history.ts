import { asc, eq, sql } from 'drizzle-orm';
import { prepared } from '../db/prepared.js';
import type { Db } from '../db/client.js';
import { findAssistant, findThread } from '../db/lookups.js';
import { messages, type MessageRow, type RunRow } from '../db/schema.js';
import { truncateConversation } from './truncation.js';
import type { LlmMessage } from '../llm/types.js';

export interface RunInput {
  instructions: string | null;
  temperature: number | null;
  messages: LlmMessage[];
}

/**
 * What the provider receives for a run: the instructions (the run's own, else the assistant's)
 * and the thread's completed messages as a conversation, truncated by the thread's strategy
 * (else the assistant's, else AUTO within the default token budget).
 *
 * Messages are stored in the order they were written, so with queued runs a later user message
 * can sit before an earlier run's reply. The conversation puts each run's reply right after the
 * user message that started it, and leaves out user messages sent after this run's own.
 */
export function buildRunInput(db: Db, run: RunRow, defaultMaxInputTokens: number): RunInput {
  const threadMessages = prepared(db, 'messages.ofThread', () =>
    db.select().from(messages).where(eq(messages.threadId, sql.placeholder('threadId'))).orderBy(asc(messages.pos)).prepare(),
  );
  const rows = threadMessages.all({ threadId: run.threadId });
  const replyOfRun = new Map<string, MessageRow>();
  for (const m of rows) if (m.role === 'ASSISTANT' && m.runId) replyOfRun.set(m.runId, m);

  const ownUserMessage = rows.find((m) => m.role === 'USER' && m.runId === run.id);
  const conversation: LlmMessage[] = [];
  for (const m of rows) {
    if (ownUserMessage && m.pos > ownUserMessage.pos) break;
    if (m.role === 'ASSISTANT' && m.runId) continue; // placed after its user message below
    if (m.status === 'COMPLETED') conversation.push(toLlmMessage(m));
    const reply = m.role === 'USER' && m.runId && m.runId !== run.id ? replyOfRun.get(m.runId) : undefined;
    if (reply?.status === 'COMPLETED') conversation.push(toLlmMessage(reply));
  }

  const assistant = findAssistant(db, run.assistantId);
  const thread = findThread(db, run.threadId);
  const instructions = run.instructions ?? assistant?.instructions ?? null;
  const strategy = thread?.truncation ?? assistant?.truncation ?? { type: 'AUTO' };
  return {
    instructions,
    temperature: assistant?.temperature ?? null,
    messages: truncateConversation(conversation, instructions, strategy, defaultMaxInputTokens),
  };
}

function toLlmMessage(m: MessageRow): LlmMessage {
  // A refusal goes back as what the assistant said, so the model knows it refused (and no turn is empty).
  const content = m.refusal ? [m.content, m.refusal].filter((c) => c !== '').join('\n\n') : m.content;
  return { role: m.role === 'USER' ? 'user' : m.role === 'ASSISTANT' ? 'assistant' : 'system', content };
}
