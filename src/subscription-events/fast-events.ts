import type { ExecutionArgs, ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { takeRelay, type EventRelay } from './relay.js';
import { planEvents, type EventPlan } from './selection-plan.js';

/**
 * Subscriptions without an executor pass per event. The executor maps every event of a
 * subscription through a full `execute` (a new execution context, resolve info, value
 * completion, an async generator and a flattening iterator per event); with hundreds of
 * streams at a delta every 20 ms that is most of what delivery costs in JavaScript. For the
 * common selections (leaf fields of the event, see selection-plan.ts) this projects each event
 * into its result directly; every other event, the end and any error still go through the
 * executor's own pipeline (the relay hands them to it), so they come out as they always did.
 *
 * Setting up the subscription (arguments, the field's subscribe, its errors) is the
 * executor's as before: the fast path only starts reading once it has returned a stream.
 */
export function useFastSubscriptionEvents(typeNameOf: (event: unknown) => string | undefined): Plugin {
  return {
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn(async (args: ExecutionArgs) => {
        const result = await subscribeFn(args);
        const relay = args.contextValue ? takeRelay(args.contextValue as object) : undefined;
        // A custom default resolver would read fields differently from the projectors.
        if (!relay || !isAsyncIterable(result) || args.fieldResolver || args.typeResolver) return result;
        const plan = planEvents(args);
        if (!plan || plan.byType.size === 0) return result;
        return new FastEventStream(relay, (result as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator](), plan, typeNameOf);
      });
    },
  };
}

type Step = IteratorResult<ExecutionResult>;

/** A subscription's results: projected events, or the executor's answer for everything else. */
export class FastEventStream implements AsyncIterableIterator<ExecutionResult> {
  private finished = false;
  private busy = false;
  /** next() calls made while one is in flight, answered in order (the executor's iterator serialises them too). */
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly relay: EventRelay<unknown>,
    private readonly executor: AsyncIterator<ExecutionResult>,
    private readonly plan: EventPlan,
    private readonly typeNameOf: (event: unknown) => string | undefined,
  ) {}

  next(): Promise<Step> {
    if (this.busy) return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.pull());
    this.busy = true;
    return this.pull();
  }

  private pull(): Promise<Step> {
    if (this.finished) {
      this.settled();
      return Promise.resolve({ value: undefined, done: true });
    }
    const step = this.relay.source.next();
    return step.then(
      (read) => {
        if (!read.done) {
          const typeName = this.typeNameOf(read.value);
          const data = typeName === undefined ? undefined : this.plan.byType.get(typeName)?.(read.value as Record<string, unknown>);
          if (data) {
            this.settled();
            return { value: { data: { [this.plan.key]: data } }, done: false };
          }
        }
        return this.viaExecutor(step);
      },
      () => this.viaExecutor(step),
    );
  }

  return(): Promise<Step> {
    this.finished = true;
    return this.executor.return?.() ?? Promise.resolve({ value: undefined, done: true });
  }

  throw(error: unknown): Promise<Step> {
    this.finished = true;
    return this.executor.throw?.(error) ?? Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The executor reads `step` as its next source step and answers it (an event, the end, an error) its own way. */
  private viaExecutor(step: Promise<IteratorResult<unknown>>): Promise<Step> {
    this.relay.hand(step);
    return this.executor.next().then(
      (result) => {
        if (result.done) this.finished = true;
        this.settled();
        return result;
      },
      (error: unknown) => {
        this.finished = true;
        this.settled();
        throw error;
      },
    );
  }

  /** The next waiting call reads now, or the stream is free. */
  private settled(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}
