import type { LlmEventSink, LlmStreamEvent } from './types.js';

/** Why a pulled stream's producer stops: its consumer went away (return(), or a break out of for-await). */
const CONSUMER_GONE = Symbol('consumer gone');

/**
 * A push-style producer (an adapter's forEach) read as an async iterable: the adapters' stream().
 * The producer runs once the first event is asked for, and is held at each event until the
 * consumer asks for the next one, as a generator would be. When the consumer stops early, the
 * producer's next push throws, so it ends (and tears its request down) before return() resolves.
 */
export async function* pulled(produce: (sink: LlmEventSink) => Promise<void>): AsyncGenerator<LlmStreamEvent> {
  const queue: LlmStreamEvent[] = [];
  let finished: { error: unknown } | null = null;
  let gone = false;
  /** Resolves the consumer's wait for an event (or the end). */
  let wake: (() => void) | null = null;
  /** Resolves the producer's wait for the consumer to take its event. */
  let taken: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const ended = produce((event) => {
    if (gone) throw CONSUMER_GONE;
    queue.push(event);
    notify();
    return new Promise<void>((resolve) => (taken = resolve)).then(() => {
      if (gone) throw CONSUMER_GONE;
    });
  }).then(
    () => {
      finished = { error: undefined };
      notify();
    },
    (error: unknown) => {
      finished = { error };
      notify();
    },
  );
  try {
    for (;;) {
      const event = queue.shift();
      if (event !== undefined) {
        yield event;
        const t = taken as (() => void) | null;
        taken = null;
        t?.();
        continue;
      }
      if (finished) {
        const { error } = finished as { error: unknown };
        if (error !== undefined && error !== CONSUMER_GONE) throw error;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!finished) {
      gone = true;
      const t = taken as (() => void) | null;
      taken = null;
      t?.();
      // The producer's cleanup (its request torn down) is done before the consumer goes on.
      await ended;
    }
  }
}

/** What the run's sink threw or rejected with, once it did (see guardedSink). */
export interface Refusal {
  yes: boolean;
  error: unknown;
}

/**
 * The adapters' wrapper around the run's sink: what the sink throws or rejects with (a refused
 * write, a lost lease) is remembered in `refused`, so the adapter passes it out as it is (it is
 * not the provider's failure), and `tearDown` ends the request at once (the loop's unwinding
 * would otherwise end the body as a read finished early: drained, not destroyed).
 */
export function guardedSink(sink: LlmEventSink, tearDown: () => void): { push: LlmEventSink; refused: Refusal } {
  const refused: Refusal = { yes: false, error: undefined };
  const refuse = (error: unknown): never => {
    refused.yes = true;
    refused.error = error;
    tearDown();
    throw error;
  };
  const push: LlmEventSink = (event) => {
    try {
      const wait = sink(event);
      return wait ? wait.catch(refuse) : undefined;
    } catch (error) {
      return refuse(error);
    }
  };
  return { push, refused };
}
