import { z } from 'zod';
import type { Limits } from '../config.js';
import { BadUserInputError, NotFoundError, ThreadBusyError } from '../errors.js';
import { DuplicateIdempotencyKeyError } from '../store/errors.js';
import type { MessageRow, RunRow, Store, ThreadRow } from '../store/types.js';
import type { EventLog } from './events/event-log.js';
import type { NewThreadEvent } from './events/types.js';
import { writeMessages } from './messages-writes.js';
import { paginate, type ConnectionArgs } from './pagination.js';
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

export type SendMessageInput = Partial<Record<keyof z.input<ReturnType<typeof sendSchema>>, unknown>>;

/** Messages: sending one (exactly once per idempotency key), and reading them. */
export class MessageService {
  private readonly schema;

  constructor(
    private readonly store: Store,
    private readonly log: EventLog,
    private readonly runs: RunEngine,
    limits: Limits,
  ) {
    this.schema = sendSchema(limits);
  }

  /**
   * Adds a user message and the run that answers it. With an active run: REJECT (THREAD_BUSY),
   * ENQUEUE (queued behind it) or INTERRUPT (cancelled first). The same idempotency key on the
   * same thread returns the original message and run, however the retries race.
   */
  async send(owner: string, threadId: string, input: SendMessageInput, beforeNewRun: BeforeNewRun = () => {}, prefix = 'input'): Promise<{ message: MessageRow; run: RunRow }> {
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
        return { result: { message: written.messages[0]!, run: queued.run, started }, events, acquire: started !== null };
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
    if (out.started) this.runs.launch(thread.id, out.started);
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
    const ended = await this.runs.waitForEnd(runId);
    return ended?.replyMessageId ? ((await this.store.messages.find(ended.replyMessageId)) ?? null) : null;
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
