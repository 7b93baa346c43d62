import { z } from 'zod';
import type { Limits } from '../config.js';
import { BadUserInputError, NotFoundError, ThreadBusyError } from '../errors.js';
import { DuplicateIdempotencyKeyError } from '../store/errors.js';
import type { AssistantRow, MessageRow, RunRow, Store, ThreadRow, TruncationStrategy } from '../store/types.js';
import type { AssistantService } from './assistants.js';
import type { EventLog } from './events/event-log.js';
import type { NewThreadEvent } from './events/types.js';
import { writeMessages } from './messages-writes.js';
import { pageByIds, type IdPageArgs } from './pagination.js';
import type { RunEngine } from './runs/engine.js';
import { runToolFields, runTools } from './runs/run-options.js';
import { insertQueuedRun, newRunId, type RunExtras } from './runs/run-writes.js';
import { stepsOf, type RunStep } from './runs/steps.js';
import type { BeforeNewRun, ThreadService } from './threads.js';
import { metadata, name, parseInput, temperature, text, truncationStrategy } from './validation.js';

/**
 * Runs as the Assistants API starts them (/v1): on an existing thread without a new message of
 * their own (runs.create, with optional additional messages), or with a new thread
 * (createAndRun), each with per-run options: instructions added to the assistant's,
 * temperature, truncation, token limits, metadata, and an idempotency key per owner.
 */

function runSchema(limits: Limits) {
  const tokens = z.number({ error: 'must be an integer' }).int('must be an integer').min(1, 'must be at least 1').max(10_000_000, 'must be at most 10,000,000');
  const message = z.object({
    role: z.enum(['USER', 'ASSISTANT'], { error: 'must be user or assistant' }),
    content: text(limits.contentChars),
    metadata: metadata(limits),
  });
  return z.object({
    assistantId: z.string({ error: 'is required (the assistant that runs)' }).min(1, 'is required (the assistant that runs)'),
    model: name().nullish(),
    instructions: text(limits.instructionsChars, { allowEmpty: true }).nullish(),
    additionalInstructions: text(limits.instructionsChars, { allowEmpty: true }).nullish(),
    additionalMessages: z.array(message).max(limits.threadMessages, `has too many messages; the limit is ${limits.threadMessages}`).nullish(),
    ...runToolFields(),
    temperature: temperature().nullish(),
    truncationStrategy: truncationStrategy().nullish(),
    maxPromptTokens: tokens.nullish(),
    maxCompletionTokens: tokens.nullish(),
    metadata: metadata(limits),
    idempotencyKey: name().nullish(),
  });
}

export type RunRequestInput = Partial<Record<keyof z.input<ReturnType<typeof runSchema>>, unknown>>;
type RunRequest = z.output<ReturnType<typeof runSchema>>;

export class RunRequestService {
  private readonly schema;
  private readonly threadFields;

  constructor(
    private readonly store: Store,
    private readonly log: EventLog,
    private readonly engine: RunEngine,
    private readonly assistants: AssistantService,
    private readonly threads: ThreadService,
    private readonly limits: Limits,
  ) {
    this.schema = runSchema(limits);
    this.threadFields = z.object({ messages: z.unknown().optional(), metadata: metadata(limits) });
  }

  /**
   * A run on an existing thread, answering what the thread holds (plus `additionalMessages`,
   * written first). A thread with an active run refuses (THREAD_BUSY). The same idempotency key
   * returns the original run.
   */
  async start(owner: string, threadId: string, input: RunRequestInput, beforeNewRun: BeforeNewRun, prefix = ''): Promise<RunRow> {
    // Before any read: what it decides on is read once its turn has come (start-turns.ts).
    const turn = this.engine.startTurn();
    if (turn) await turn;
    const v = parseInput(this.schema, input, prefix);
    const thread = await this.threads.get(owner, threadId);
    const repeated = await this.repeated(owner, v.idempotencyKey, thread.id, prefix);
    if (repeated) return repeated;
    const assistant = await this.assistants.get(owner, v.assistantId);
    const active = await this.store.runs.active(thread.id);
    if (active.length > 0) {
      // The active run may be this very request's, stored by a concurrent retry (another instance) between the two reads.
      const startedMeanwhile = await this.repeated(owner, v.idempotencyKey, thread.id, prefix);
      if (startedMeanwhile) return startedMeanwhile;
      throw new ThreadBusyError(thread.id, active[0]!.id);
    }
    const toolOptions = runTools(v, assistant, prefix);
    await beforeNewRun();
    const messages = v.additionalMessages ?? [];
    const now = new Date();
    let out: { run: RunRow; started: RunRow | null; starter: MessageRow | null };
    try {
      out = await this.log.commit(thread.id, async (tx) => {
        const runId = newRunId();
        // The last additional message, when it is the user's, is the one this run answers.
        const written = await writeMessages(tx, thread, messages, messages.at(-1)?.role === 'USER' ? runId : null, now);
        const runThread: ThreadRow = { ...thread, assistantId: assistant.id };
        const queued = await insertQueuedRun(tx, runThread, { id: runId, ...this.options(v, assistant), ...toolOptions }, now, this.extras(v, thread, assistant));
        const events: NewThreadEvent[] = [...written.events, ...queued.events];
        if (this.engine.isClosing(thread.id)) throw new NotFoundError('thread', threadId);
        const started = this.engine.canStartNow(thread.id) ? await this.engine.startInCommit(tx, runId, events) : null;
        // A run that raced another to an idle thread finds it busy and is refused.
        if (!started && this.engine.isAccepting()) throw new ThreadBusyError(thread.id, '');
        // As MessageService.send: a run started here takes the thread's lease in this commit.
        const starter = messages.at(-1)?.role === 'USER' ? written.messages.at(-1)! : null;
        return { result: { run: queued.run, started, starter }, events, acquire: started !== null, touchedAt: written.touchedAt };
      });
    } catch (error) {
      if (error instanceof DuplicateIdempotencyKeyError) return (await this.repeated(owner, v.idempotencyKey, thread.id, prefix))!;
      if (error instanceof ThreadBusyError) {
        const startedMeanwhile = await this.repeated(owner, v.idempotencyKey, thread.id, prefix);
        if (startedMeanwhile) return startedMeanwhile;
        throw new ThreadBusyError(thread.id, (await this.store.runs.active(thread.id))[0]?.id ?? 'unknown');
      }
      throw error;
    }
    if (out.started) this.engine.launch(thread.id, out.started, { thread, assistant, starter: out.starter });
    return out.started ?? out.run;
  }

  /** A new thread (`thread.messages`, `thread.metadata`) and a run on it, always started. */
  async startWithThread(owner: string, input: RunRequestInput & { thread?: unknown }, beforeNewRun: BeforeNewRun, prefix = ''): Promise<{ thread: ThreadRow; run: RunRow }> {
    const { thread: threadFields, ...runInput } = input;
    const v = parseInput(this.schema, runInput, prefix);
    const t = parseInput(this.threadFields, threadFields ?? {}, prefix ? `${prefix}.thread` : 'thread');
    const repeated = await this.repeated(owner, v.idempotencyKey, null, prefix);
    if (repeated) return { thread: await this.threads.get(owner, repeated.threadId), run: repeated };
    const assistant = await this.assistants.get(owner, v.assistantId);
    // The run's fields are checked here, so that their errors name them (not `thread.…`).
    runTools(v, assistant, prefix);
    const threadPrefix = prefix ? `${prefix}.thread` : 'thread';
    const { model, tools, toolChoice, parallelToolCalls } = v;
    const threadInput = { assistantId: assistant.id, messages: t.messages, metadata: t.metadata, model, instructions: this.options(v, assistant).instructions, tools, toolChoice, parallelToolCalls };
    try {
      const { thread, run } = await this.threads.create(owner, threadInput, beforeNewRun, threadPrefix, { start: 'always', extras: this.extras(v, null, assistant) });
      return { thread, run: run! };
    } catch (error) {
      if (!(error instanceof DuplicateIdempotencyKeyError)) throw error;
      const original = (await this.repeated(owner, v.idempotencyKey, null, prefix))!;
      return { thread: await this.threads.get(owner, original.threadId), run: original };
    }
  }

  /** A run of this thread (another thread's is NOT_FOUND, as an unknown one). */
  async inThread(owner: string, threadId: string, runId: string): Promise<RunRow> {
    const run = await this.engine.find(owner, runId);
    if (!run || run.threadId !== threadId) throw new NotFoundError('run', runId);
    return run;
  }

  /** A thread's runs addressed by ids (the Assistants API's lists). */
  async list(owner: string, threadId: string, args: IdPageArgs) {
    const thread = await this.threads.get(owner, threadId);
    return pageByIds(args, (w) => this.store.runs.page(thread.id, w), async (id) => {
      const row = await this.store.runs.find(id, owner);
      return row?.threadId === thread.id ? row : undefined;
    });
  }

  /** Replaces the run's metadata. */
  async updateMetadata(owner: string, threadId: string, runId: string, value: unknown, prefix = 'metadata'): Promise<RunRow> {
    const run = await this.inThread(owner, threadId, runId);
    if (value === undefined) return run;
    const updated = await this.store.runs.updateMetadata(run.id, parseInput(metadata(this.limits), value, prefix));
    if (!updated) throw new NotFoundError('run', runId);
    return updated;
  }

  /** The run's steps (its tool rounds and its reply), oldest first. */
  async steps(owner: string, threadId: string, runId: string): Promise<RunStep[]> {
    const run = await this.inThread(owner, threadId, runId);
    const reply: MessageRow | undefined = run.replyMessageId ? await this.store.messages.find(run.replyMessageId) : undefined;
    return stepsOf(run, reply);
  }

  private options(v: RunRequest, assistant: AssistantRow): { model: string; instructions: string | null } {
    // `instructions` replace the assistant's; `additionalInstructions` are appended to whichever apply.
    const base = v.instructions ?? assistant.instructions ?? null;
    const instructions = v.additionalInstructions ? [base, v.additionalInstructions].filter((s) => s).join('\n\n') : (v.instructions ?? null);
    return { model: this.engine.modelFor(v.model ?? null, assistant.model), instructions };
  }

  private extras(v: RunRequest, thread: ThreadRow | null, assistant: AssistantRow): RunExtras {
    // max_prompt_tokens is the budget of the truncation that applies (the run's, else the thread's or the assistant's).
    let truncation: TruncationStrategy | null = v.truncationStrategy ?? null;
    if (v.maxPromptTokens != null) {
      const applies = truncation ?? thread?.truncation ?? assistant.truncation ?? { type: 'AUTO', lastMessages: null };
      truncation = { ...applies, maxInputTokens: v.maxPromptTokens };
    }
    return {
      temperature: v.temperature ?? null,
      truncation,
      maxPromptTokens: v.maxPromptTokens ?? null,
      maxCompletionTokens: v.maxCompletionTokens ?? null,
      metadata: v.metadata,
      idempotencyKey: v.idempotencyKey ?? null,
    };
  }

  /** The owner's run created with this key; on another thread than `threadId` the key is refused. */
  private async repeated(owner: string, key: string | null | undefined, threadId: string | null, prefix: string): Promise<RunRow | null> {
    if (!key) return null;
    const run = await this.store.runs.byIdempotencyKey(owner, key);
    if (!run) return null;
    if (threadId !== null && run.threadId !== threadId) {
      throw new BadUserInputError(prefix ? `${prefix}.idempotencyKey` : 'idempotencyKey', 'this key was already used for a run on another thread; use a new key for a new run');
    }
    return run;
  }
}
