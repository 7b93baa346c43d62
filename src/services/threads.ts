import { z } from 'zod';
import type { Limits } from '../config.js';
import { BadUserInputError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { Metadata, NewThreadRow, RunRow, Store, ThreadRow } from '../store/types.js';
import type { EventService } from './events/index.js';
import type { EventLog } from './events/event-log.js';
import type { NewThreadEvent } from './events/types.js';
import { messagesWritten, newMessageRows } from './messages-writes.js';
import { paginate, type ConnectionArgs } from './pagination.js';
import type { RunEngine } from './runs/engine.js';
import { runToolFields, runTools } from './runs/run-options.js';
import { insertedRunEvents, newRunId, newRunRow, type RunExtras } from './runs/run-writes.js';
import { metadata, name, parseInput, text, truncationStrategy } from './validation.js';

/** Called just before a new run is stored (not for idempotent repeats or refusals): rate limits. */
export type BeforeNewRun = () => void | Promise<void>;

function threadSchemas(limits: Limits) {
  const fields = {
    title: text(limits.titleChars, { allowEmpty: true }).nullish(),
    truncationStrategy: truncationStrategy().nullish(),
    metadata: metadata(limits),
  };
  const message = z.object({
    role: z.enum(['USER', 'ASSISTANT', 'SYSTEM'], { error: 'must be USER, ASSISTANT or SYSTEM' }),
    content: text(limits.contentChars),
    metadata: metadata(limits),
  });
  return {
    update: z.object(fields),
    create: z.object({
      ...fields,
      assistantId: z.string().nullish(),
      model: name().nullish(),
      instructions: text(limits.instructionsChars, { allowEmpty: true }).nullish(),
      ...runToolFields(),
      messages: z.array(message).nullish(),
    }),
  };
}

export type CreateThreadInput = Partial<Record<keyof z.input<ReturnType<typeof threadSchemas>['create']>, unknown>>;
export type UpdateThreadInput = Partial<Record<'title' | 'truncationStrategy' | 'metadata', unknown>>;

/** Threads: creating one (with its first messages and run), changing, listing and deleting them. */
export class ThreadService {
  private readonly schemas;

  constructor(
    private readonly store: Store,
    private readonly log: EventLog,
    private readonly events: EventService,
    private readonly runs: RunEngine,
    private readonly limits: Limits,
  ) {
    this.schemas = threadSchemas(limits);
  }

  /**
   * `runOptions.start`: `always` starts a run whatever the last message is (the Assistants
   * API's createAndRun, with `runOptions.extras`); `never` starts none (its threads.create).
   */
  async create(
    owner: string,
    input: CreateThreadInput,
    beforeNewRun: BeforeNewRun = () => {},
    prefix = 'input',
    runOptions: { start?: 'always' | 'never'; extras?: RunExtras } = {},
  ): Promise<{ thread: ThreadRow; run: RunRow | null }> {
    // Checked before validation so that an oversized list is refused before its items are read.
    if (Array.isArray(input.messages) && input.messages.length > this.limits.threadMessages) {
      throw new BadUserInputError(`${prefix}.messages`, `has ${input.messages.length} messages; the limit is ${this.limits.threadMessages}`);
    }
    const v = parseInput(this.schemas.create, input, prefix);
    const assistantId = v.assistantId ?? null;
    const assistant = assistantId === null ? undefined : await this.store.assistants.find(assistantId, owner);
    if (assistantId !== null && !assistant) throw new NotFoundError('assistant', assistantId);
    const messages = v.messages ?? [];
    const startsRun = runOptions.start === 'always' || (runOptions.start !== 'never' && messages.at(-1)?.role === 'USER');
    const toolOptions = runTools(v, assistant, prefix);
    if (startsRun) {
      // Its run starts in the commit below: it waits for its turn like every start (start-turns.ts).
      const turn = this.runs.startTurn();
      if (turn) await turn;
      await beforeNewRun();
    }

    const threadId = newId('Thread');
    const now = new Date();
    const { thread, run, started, starter, written } = await this.log.commit(threadId, async (tx) => {
      const newThread: NewThreadRow = {
        id: threadId,
        owner,
        assistantId,
        title: v.title ?? null,
        truncation: v.truncationStrategy ?? null,
        metadata: v.metadata,
        lastEventSeq: 0,
        windowEnd: 0,
        foreignSeq: 0,
        writer: null,
        writerEpoch: 0,
        leaseUntil: null,
        createdAt: now,
        updatedAt: now,
      };
      const runId = startsRun ? newRunId() : null;
      const lastIsUser = messages.at(-1)?.role === 'USER';
      // The thread is this transaction's: a run that may start now is inserted started (one statement, the same events).
      const newRun = runId
        ? newRunRow(
            newThread,
            { id: runId, model: this.runs.modelFor(v.model ?? null, assistant?.model), instructions: v.instructions ?? null, ...toolOptions },
            now,
            runOptions.extras ?? {},
            this.runs.canStartInInsert(threadId) ? new Date() : null,
          )
        : null;
      const stored = await tx.insertThreadWith(newThread, newMessageRows(newThread, messages, lastIsUser ? runId : null, now), newRun);
      const thread = stored.thread;
      const events: NewThreadEvent[] = messagesWritten(stored.messages);
      let run: RunRow | null = null;
      let started: RunRow | null = null;
      // The run's user message: the last one, when it is the user's (written with the run's id).
      const starter = runId && lastIsUser ? stored.messages.at(-1)! : null;
      if (stored.run) {
        const inserted = insertedRunEvents(stored.run);
        events.push(...inserted.events);
        run = inserted.queued;
        started = inserted.started;
      }
      // No touchedAt: the thread row was inserted with updatedAt = now.
      return { result: { thread, run, started, starter, written: stored.messages }, events, acquire: started !== null };
    }, { creating: true });
    // This commit wrote the whole thread: the run's history needs no read.
    if (started) this.runs.launch(threadId, started, { thread, assistant, starter, wholeThread: written });
    // The rows as this commit left them, not read back: the commit changed only the thread's seq
    // columns, which Thread.lastEventSeq reads when asked; the run is as it started (launch has
    // not run any of it yet).
    return { thread, run: started ?? run };
  }

  /** Changes the title, truncation strategy and/or metadata; fields left out keep their value. */
  async update(owner: string, threadId: string, input: UpdateThreadInput, prefix = 'input'): Promise<ThreadRow> {
    await this.get(owner, threadId);
    const v = parseInput(this.schemas.update, input, prefix);
    const updated = await this.store.threads.update(
      threadId,
      { title: v.title ?? undefined, truncation: v.truncationStrategy ?? undefined, metadata: input.metadata == null ? undefined : v.metadata },
      new Date(),
    );
    if (!updated) throw new NotFoundError('thread', threadId);
    return updated;
  }

  /**
   * Deletes a thread with its messages, runs and events. Its runs end CANCELLED first and its
   * subscribers receive those terminal events before their streams end, so nobody waits forever.
   */
  async delete(owner: string, threadId: string): Promise<void> {
    await this.get(owner, threadId);
    await this.runs.whileClosing(threadId, async () => {
      await this.log.flush(threadId);
      await this.events.endStreams(1000, threadId);
      this.log.forget(threadId);
      await this.store.threads.delete(threadId);
      // Every instance ends its streams of the thread (and a run of it, should one still execute somewhere).
      await this.log.pubsub.sendControl({ type: 'thread-deleted', threadId }).catch(() => undefined);
      // A subscription opened while the delete waited is ended too (it can receive nothing more).
      await this.events.endStreams(0, threadId);
    });
  }

  async get(owner: string, threadId: string): Promise<ThreadRow> {
    const row = await this.store.threads.find(threadId, owner);
    if (!row || this.runs.isClosing(threadId)) throw new NotFoundError('thread', threadId);
    return row;
  }

  async find(owner: string, threadId: string): Promise<ThreadRow | null> {
    return (await this.store.threads.find(threadId, owner)) ?? null;
  }

  /** The thread's highest stored seq, read now (see Thread.lastEventSeq). */
  async lastEventSeq(threadId: string): Promise<number> {
    return (await this.store.threads.find(threadId))?.lastEventSeq ?? 0;
  }

  /** Newest first; optionally of one assistant and with all the given metadata key/values. */
  list(owner: string, args: ConnectionArgs & { assistantId?: string | null; metadata?: unknown }) {
    const filter: { owner: string; assistantId?: string | null; metadata?: Metadata } = { owner, assistantId: args.assistantId ?? null };
    if (args.metadata != null) filter.metadata = parseInput(metadata(this.limits), args.metadata, 'metadata');
    return paginate(args, (w) => this.store.threads.page(filter, w), true);
  }
}
