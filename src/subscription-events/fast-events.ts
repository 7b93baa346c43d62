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
        const stream = new FastEventStream(relay, (result as AsyncIterable<ExecutionResult>)[Symbol.asyncIterator](), plan, typeNameOf);
        // Over HTTP (not a socket's operation), the SSE body may take the projected results directly.
        const context = args.contextValue as { request?: Request; socket?: unknown } | undefined;
        if (context?.request && !context.socket) byRequest.set(context.request, stream);
        return stream;
      });
    },
  };
}

type Step = IteratorResult<ExecutionResult>;

/** The fast streams of HTTP requests, until their response body takes them (takeFastStream). */
const byRequest = new WeakMap<Request, FastEventStream>();

/** The fast stream of the request's subscription, once (undefined: it has none). */
export function takeFastStream(request: Request): FastEventStream | undefined {
  const stream = byRequest.get(request);
  byRequest.delete(request);
  return stream;
}

/**
 * Takes a projected result straight from the stream (the SSE body); false: it wants no more
 * for now, the stream waits for resume().
 */
export type DirectSink = (result: ExecutionResult) => boolean;

/** A subscription's results: projected events, or the executor's answer for everything else. */
export class FastEventStream implements AsyncIterableIterator<ExecutionResult> {
  private finished = false;
  private busy = false;
  /** next() calls made while one is in flight, answered in order (the executor's iterator serialises them too). */
  private readonly waiting: (() => void)[] = [];

  /** Set: projected results go to it, not out of next() (see direct()). */
  private sink: DirectSink | null = null;
  /** The direct read the sink paused. */
  private paused: (() => void) | null = null;

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

  /**
   * From now on, the projected results are handed to `sink` as they are read, and next()
   * answers only with what the executor answers (the other events, the end, an error): the
   * projected ones skip every wrapper of the stream (envelop's and yoga's mapping iterators,
   * the request-id naming, each a promise or more per event) that has nothing to do with
   * them (they have no errors). The consumer (the SSE body, which writes both) calls next()
   * again as soon as it has written an answer, so the order of the events is kept: a read
   * within one next() call goes on only after the sink took the previous result.
   */
  direct(sink: DirectSink): void {
    this.sink = sink;
  }

  /** The sink wants results again. */
  resume(): void {
    const paused = this.paused;
    this.paused = null;
    paused?.();
  }

  private pull(): Promise<Step> {
    if (this.finished) {
      this.settled();
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.sink) return new Promise<Step>((resolve, reject) => this.pullDirect(this.sink!, resolve, reject));
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

  /** pull() with a sink: reads on until an event the executor must answer (or the end). */
  private pullDirect(sink: DirectSink, resolve: (step: Step | Promise<Step>) => void, reject: (error: unknown) => void): void {
    if (this.finished) {
      this.settled();
      return resolve({ value: undefined, done: true });
    }
    const step = this.relay.source.next();
    step.then(
      (read) => {
        // The consumer went away (return()) during the read.
        if (this.finished) {
          this.settled();
          return resolve({ value: undefined, done: true });
        }
        if (!read.done) {
          const typeName = this.typeNameOf(read.value);
          const data = typeName === undefined ? undefined : this.plan.byType.get(typeName)?.(read.value as Record<string, unknown>);
          if (data) {
            if (sink({ data: { [this.plan.key]: data } })) this.pullDirect(sink, resolve, reject);
            else this.paused = () => this.pullDirect(sink, resolve, reject);
            return;
          }
        }
        this.viaExecutor(step).then(resolve, reject);
      },
      () => this.viaExecutor(step).then(resolve, reject),
    );
  }

  return(): Promise<Step> {
    this.finished = true;
    // A paused direct read ends (its next() answers done).
    this.resume();
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
