import { z } from 'zod';
import type { Limits } from '../config.js';
import { BadUserInputError, NotFoundError, ThreadBusyError } from '../errors.js';
import { DuplicateIdempotencyKeyError } from '../store/errors.js';
import type { MessageRow, RunRow, Store, ThreadRow } from '../store/types.js';
import type { EventLog } from './events/event-log.js';
import type { NewThreadEvent } from './events/types.js';
import { writeMessages } from './messages-writes.js';
import { pageByIds, pageOfList, paginate, type ConnectionArgs, type IdPageArgs } from './pagination.js';
import type { RunEngine } from './runs/engine.js';
import { runToolFields, runTools } from './runs/run-options.js';
import { insertQueuedRun, newRunId } from './runs/run-writes.js';
import type { BeforeNewRun } from './threads.js';
import { metadata, name, parseInput, text } from './validation.js';

export type OnActiveRun = 'REJECT' | 'ENQUEUE' | 'INTERRUPT';

function sendSchema(limits: Limits) {
  return z.object({
    content: text(limits.contentChars),
    idempotencyKey: name().nullish(),
    model: name().nullish(),
    instructions: text(limits.instructionsChars, { allowEmpty: true }).nullish(),
    metadata: metadata(limits),
    onActiveRun: z.enum(['REJECT', 'ENQUEUE', 'INTERRUPT'], { error: 'must be REJECT, ENQUEUE or INTERRUPT' }).nullish(),
    ...runToolFields(),
  });
}

function addSchema(limits: Limits) {
  return z.object({
    role: z.enum(['USER', 'ASSISTANT'], { error: 'must be user or assistant' }),
    content: text(limits.contentChars),
    metadata: metadata(limits),
    idempotencyKey: name().nullish(),
  });
}

export type AddMessageInput = Partial<Record<keyof z.input<ReturnType<typeof addSchema>>, unknown>>;

export type SendMessageInput = Partial<Record<keyof z.input<ReturnType<typeof sendSchema>>, unknown>>;

/** Messages: sending one (exactly once per idempotency key), and reading them. */
export class MessageService {
  private readonly schema;
  private readonly addRule;

  constructor(
    private readonly store: Store,
    private readonly log: EventLog,
    private readonly runs: RunEngine,
    private readonly limits: Limits,
  ) {
    this.schema = sendSchema(limits);
    this.addRule = addSchema(limits);
  }

  /**
   * Adds a message without starting a run (the Assistants API's messages.create). Refused
   * while the thread has an active run (THREAD_BUSY), as OpenAI did. The same idempotency
   * key on the same thread returns the original message.
   */
  async add(owner: string, threadId: string, input: AddMessageInput, prefix = ''): Promise<MessageRow> {
    const v = parseInput(this.addRule, input, prefix);
    const thread = await this.threadToSendTo(owner, threadId);
    const key = v.idempotencyKey ?? null;
    const original = key ? await this.store.messages.byIdempotencyKey(thread.id, key) : undefined;
    if (original && original.content !== v.content) {
      throw new BadUserInputError('idempotencyKey', 'this key was already used on this thread with different content; use a new key for a new message');
    }
    if (original) return original;
    const active = await this.store.runs.active(thread.id);
    if (active.length > 0) throw new ThreadBusyError(thread.id, active[0]!.id);
    try {
      return await this.log.commit(thread.id, async (tx) => {
        const written = await writeMessages(tx, thread, [{ role: v.role, content: v.content, metadata: v.metadata, idempotencyKey: key }], null, new Date());
        return { result: written.messages[0]!, events: written.events, touchedAt: written.touchedAt };
      });
    } catch (error) {
      if (error instanceof DuplicateIdempotencyKeyError) return (await this.store.messages.byIdempotencyKey(thread.id, key!))!;
      throw error;
    }
  }

  /** A message of this thread (another thread's id is NOT_FOUND, as an unknown one). */
  async inThread(owner: string, threadId: string, messageId: string): Promise<MessageRow> {
    const row = await this.store.messages.find(messageId, owner);
    if (!row || row.threadId !== threadId) throw new NotFoundError('message', messageId);
    return row;
  }

  /** Replaces the message's metadata. */
  async updateMetadata(owner: string, threadId: string, messageId: string, value: unknown, prefix = 'metadata'): Promise<MessageRow> {
    const row = await this.inThread(owner, threadId, messageId);
    if (value === undefined) return row;
    const updated = await this.store.messages.updateMetadata(row.id, parseInput(metadata(this.limits), value, prefix));
    if (!updated) throw new NotFoundError('message', messageId);
    return updated;
  }

  /** Deletes a message; one a run is still writing cannot be deleted. */
  async delete(owner: string, threadId: string, messageId: string): Promise<void> {
    const row = await this.inThread(owner, threadId, messageId);
    if (row.status === 'IN_PROGRESS') throw new BadUserInputError('message_id', `message "${messageId}" is being written by run "${row.runId}"; cancel the run or wait for it first`);
    await this.store.messages.delete(row.id);
  }

  /**
   * Adds a user message and the run that answers it. With an active run: REJECT (THREAD_BUSY),
   * ENQUEUE (queued behind it) or INTERRUPT (cancelled first). The same idempotency key on the
   * same thread returns the original message and run, however the retries race.
   */
  async send(owner: string, threadId: string, input: SendMessageInput, beforeNewRun: BeforeNewRun = () => {}, prefix = 'input'): Promise<{ message: MessageRow; run: RunRow }> {
    // Before any read: what it decides on is read once its turn has come.
    const turn = this.runs.startTurn();
    if (turn) await turn;
    const v = parseInput(this.schema, input, prefix);
    const onActiveRun: OnActiveRun = v.onActiveRun ?? 'REJECT';
    const key = v.idempotencyKey ?? null;
    const thread = await this.threadToSendTo(owner, threadId);
    const repeated = await this.findIdempotent(thread.id, key, v.content);
    if (repeated) return repeated;

    const active = await this.store.runs.active(thread.id);
    if (active.length > 0 && onActiveRun === 'REJECT') {
      // The active run may be this very send's, stored by a concurrent retry (another instance) between the two reads.
      const sentMeanwhile = await this.findIdempotent(thread.id, key, v.content);
      if (sentMeanwhile) return sentMeanwhile;
      throw new ThreadBusyError(thread.id, active[0]!.id);
    }
    if (active.length > 0 && onActiveRun === 'INTERRUPT') {
      // Asked again after reading the active runs: one of them may be this very send's, stored by a
      // concurrent retry after the first lookup. A retry must never cancel the run it would return.
      const sentBefore = await this.findIdempotent(thread.id, key, v.content);
      if (sentBefore) return sentBefore;
      await Promise.all(active.map((r) => this.runs.cancel(r.id)));
      // While we waited the thread may have been deleted, or the same send may have arrived again.
      await this.threadToSendTo(owner, threadId);
      const sentMeanwhile = await this.findIdempotent(thread.id, key, v.content);
      if (sentMeanwhile) return sentMeanwhile;
    }

    await beforeNewRun();
    const assistant = thread.assistantId ? await this.store.assistants.find(thread.assistantId) : undefined;
    const toolOptions = runTools(v, assistant, prefix);
    const now = new Date();
    let out: { message: MessageRow; run: RunRow; started: RunRow | null };
    try {
      out = await this.log.commit(thread.id, async (tx) => {
        const runId = newRunId();
        const written = await writeMessages(tx, thread, [{ role: 'USER', content: v.content, metadata: v.metadata, idempotencyKey: key }], runId, now);
        const queued = await insertQueuedRun(tx, thread, { id: runId, model: this.runs.modelFor(v.model ?? null, assistant?.model), instructions: v.instructions ?? null, ...toolOptions }, now);
        const events: NewThreadEvent[] = [...written.events, ...queued.events];
        // A delete that began after our lookup wins: nothing new is stored on a closing thread.
        if (this.runs.isClosing(thread.id)) throw new NotFoundError('thread', threadId);
        const started = this.runs.canStartNow(thread.id) ? await this.runs.startInCommit(tx, runId, events) : null;
        // Decided here, not by the read above: a send that raced another one to an idle thread
        // finds it busy (its run executing, or started by the database) and is refused.
        if (!started && onActiveRun === 'REJECT' && this.runs.isAccepting()) throw new ThreadBusyError(thread.id, '');
        return { result: { message: written.messages[0]!, run: queued.run, started }, events, acquire: started !== null, touchedAt: written.touchedAt };
      });
    } catch (error) {
      // Another request stored this key first (a concurrent retry): answer with its message and run.
      if (error instanceof DuplicateIdempotencyKeyError) return (await this.findIdempotent(thread.id, key, v.content))!;
      if (error instanceof ThreadBusyError) {
        const current = await this.store.runs.active(thread.id);
        throw new ThreadBusyError(thread.id, current[0]?.id ?? 'unknown');
      }
      throw error;
    }
    if (out.started) this.runs.launch(thread.id, out.started, { thread, assistant, starter: out.message });
    return { message: out.message, run: out.started ?? out.run };
  }

  async get(owner: string, messageId: string): Promise<MessageRow> {
    const row = await this.store.messages.find(messageId, owner);
    if (!row) throw new NotFoundError('message', messageId);
    return row;
  }

  async find(owner: string, messageId: string): Promise<MessageRow | null> {
    return (await this.store.messages.find(messageId, owner)) ?? null;
  }

  /** The reply of a run once it has ended (null when it produced none, or will not end here). */
  async replyWhenEnded(runId: string): Promise<MessageRow | null> {
    const { run: ended, reply } = await this.runs.waitForEndWithReply(runId);
    if (!ended?.replyMessageId) return null;
    // The row the run's final transaction wrote, when it ended here; read otherwise.
    if (reply?.id === ended.replyMessageId) return reply;
    return (await this.store.messages.find(ended.replyMessageId)) ?? null;
  }

  /** A thread's messages addressed by ids (the Assistants API's lists); `runId`: the messages that run wrote. */
  async listByIds(owner: string, threadId: string, args: IdPageArgs & { runId?: string | null }) {
    const thread = await this.threadToSendTo(owner, threadId);
    if (args.runId) {
      const run = await this.store.runs.find(args.runId, owner);
      if (!run || run.threadId !== thread.id) throw new NotFoundError('run', args.runId);
      const reply = run.replyMessageId ? await this.store.messages.find(run.replyMessageId) : undefined;
      return pageOfList(reply ? [reply] : [], args);
    }
    return pageByIds(args, (w) => this.store.messages.page(thread.id, w), async (id) => {
      const row = await this.store.messages.find(id, owner);
      return row?.threadId === thread.id ? row : undefined;
    });
  }

  /** Oldest first. */
  list(threadId: string, args: ConnectionArgs) {
    return paginate(args, (w) => this.store.messages.page(threadId, w));
  }

  private async threadToSendTo(owner: string, threadId: string): Promise<ThreadRow> {
    const thread = await this.store.threads.find(threadId, owner);
    if (!thread || this.runs.isClosing(thread.id)) throw new NotFoundError('thread', threadId);
    return thread;
  }

  /** The message and run of an earlier send with the same idempotency key, if any. */
  private async findIdempotent(threadId: string, key: string | null, content: string): Promise<{ message: MessageRow; run: RunRow } | null> {
    if (!key) return null;
    const original = await this.store.messages.byIdempotencyKey(threadId, key);
    if (!original) return null;
    if (original.content !== content) {
      throw new BadUserInputError('idempotencyKey', 'this key was already used on this thread with different content; use a new key for a new message');
    }
    // A user message with a key always started a run, in the same transaction.
    return { message: original, run: (await this.store.runs.find(original.runId!))! };
  }
}
