import { afterEach, describe, expect, it, vi } from 'vitest';
import { GAP_WAIT_MS, IDLE_CHECK_MS, LIVE_BUFFER_EVENTS, LogStream, type LogSource, type LogStreamOptions } from '../src/services/events/log-stream.js';
import { InMemoryPubSub, type Subscription, type ThreadListener } from '../src/services/events/pubsub.js';
import type { MessageDeltaEvent, ThreadEvent } from '../src/services/events/types.js';
import { within } from './helpers.js';

/**
 * The subscriber protocol of several instances, driven event by event: what another instance's
 * events look like when they arrive late, out of order, twice, or not at all. The bus is the
 * real in-memory one; the store is a list this test writes, with its high-water mark.
 */

const T = 'thread_1';
const delta = (seq: number, runId = 'run_1'): MessageDeltaEvent => ({ kind: 'MESSAGE_DELTA', seq, threadId: T, runId, messageId: 'msg_1', delta: `d${seq} ` });

/** The in-memory bus, plus a way to say "live delivery was interrupted" as RedisPubSub does. */
class TestBus extends InMemoryPubSub {
  private readonly watched: ThreadListener[] = [];

  override subscribe(threadId: string, listener: ThreadListener): Subscription {
    this.watched.push(listener);
    return super.subscribe(threadId, listener);
  }

  resyncAll(): void {
    for (const l of this.watched) l.resync?.();
  }
}

function world() {
  const bus = new TestBus();
  const stored: ThreadEvent[] = [];
  let hw = 0;
  let reads = 0;
  const source: LogSource = {
    pubsub: bus,
    readStored: async (_t, after, limit) => (reads++, stored.filter((e) => e.seq > after).slice(0, limit)),
    storedThrough: async () => hw,
    lastPublishedSeq: () => null,
  };
  return {
    bus,
    /** Stores events (and moves the high-water mark to `through`, default the last one). */
    store(events: ThreadEvent[], through = events.at(-1)?.seq ?? hw) {
      stored.push(...events);
      hw = through;
    },
    reads: () => reads,
    open: (options: Partial<LogStreamOptions> = {}) => new LogStream(source, { threadId: T, after: 0, replay: false, ...options }),
  };
}

/** The next `n` events' seqs (fails instead of hanging). */
async function take(stream: LogStream, n: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = await within(stream.next(), 3000, `event ${i + 1} of ${n}`);
    if (next.done) throw new Error(`the stream ended after ${seqs.join(',')}`);
    seqs.push(next.value.seq);
  }
  return seqs;
}

/** Lets the stream's own catch-up (once its subscription is in place) finish, then sends seq 1 live. */
async function startLive(w: ReturnType<typeof world>, stream: LogStream): Promise<void> {
  const first = stream.next();
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  w.bus.publish(delta(1));
  expect((await first).value.seq).toBe(1);
}

const ticks = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('LogStream: the subscriber protocol across instances', () => {
  afterEach(() => vi.useRealTimers());

  it('events arriving out of order are sent in seq order; duplicates and echoes are dropped', async () => {
    const w = world();
    const stream = w.open();
    await take(stream, 0);
    w.bus.publish(delta(1));
    w.bus.publish(delta(3));
    w.bus.publish(delta(1));
    w.bus.publish(delta(2));
    w.bus.publish(delta(3));
    w.bus.publish(delta(4));
    expect(await take(stream, 4)).toEqual([1, 2, 3, 4]);
    stream.close();
  });

  it('a gap is held until the stored notice, then filled from the store', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world();
    const stream = w.open();
    await startLive(w, stream);
    // seq 2 never arrives live (lost on the way); 3 does and waits: the safety timer never fires here.
    w.bus.publish(delta(3));
    const next = stream.next();
    await ticks();
    expect(stream.stats().buffered).toBe(1);
    w.store([delta(1), delta(2)]);
    w.bus.publishStored(T, 2);
    expect((await next).value.seq).toBe(2);
    expect(await take(stream, 1)).toEqual([3]);
    stream.close();
  });

  it('without a stored notice the safety timer fills the gap', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world();
    const stream = w.open();
    await startLive(w, stream);
    w.store([delta(1), delta(2)]);
    w.bus.publish(delta(3));
    const next = stream.next();
    await ticks();
    const readsBefore = w.reads();
    vi.advanceTimersByTime(GAP_WAIT_MS - 1);
    await ticks();
    expect(w.reads()).toBe(readsBefore);
    vi.advanceTimersByTime(1);
    expect((await next).value.seq).toBe(2);
    expect(await take(stream, 1)).toEqual([3]);
    stream.close();
  });

  it('a stored notice past the position catches up even with nothing held (the last live events were lost)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world();
    const stream = w.open();
    await startLive(w, stream);
    // 2 and 3 never arrive live, and no later event shows the gap: only the notice says they exist.
    w.store([delta(1), delta(2), delta(3)]);
    w.bus.publishStored(T, 3);
    expect(await take(stream, 2)).toEqual([2, 3]);
    stream.close();
  });

  it('with neither the events nor their notice, an idle stream finds them in the store (the backstop)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world();
    const stream = w.open();
    await startLive(w, stream);
    w.store([delta(1), delta(2)]);
    const next = stream.next();
    await ticks();
    const readsBefore = w.reads();
    vi.advanceTimersByTime(IDLE_CHECK_MS - 1);
    await ticks();
    expect(w.reads()).toBe(readsBefore);
    vi.advanceTimersByTime(1);
    expect((await next).value.seq).toBe(2);
    // Nothing new stored: the next check reads the mark only, not the log.
    const after = stream.next();
    const readsNow = w.reads();
    await ticks();
    vi.advanceTimersByTime(IDLE_CHECK_MS);
    await ticks();
    expect(w.reads()).toBe(readsNow);
    w.store([delta(3)]);
    vi.advanceTimersByTime(IDLE_CHECK_MS);
    expect((await after).value.seq).toBe(3);
    stream.close();
  });

  it('seqs that exist nowhere below the stored high-water mark are gaps for good (a crash, a foreign write)', async () => {
    const w = world();
    const stream = w.open();
    w.store([delta(1)]);
    w.bus.publish(delta(1));
    expect(await take(stream, 1)).toEqual([1]);
    // 2..9 were skipped; 10 is stored; 11 is live.
    w.store([delta(10)]);
    w.bus.publish(delta(11));
    w.bus.publishStored(T, 10);
    expect(await take(stream, 2)).toEqual([10, 11]);
    stream.close();
  });

  it('resync (Redis reconnected) reads what was stored meanwhile, with no further live event to show the gap', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world();
    const stream = w.open();
    await startLive(w, stream);
    w.store([delta(1), delta(2), delta(3)]);
    const next = stream.next();
    await ticks();
    expect(w.reads()).toBe(1);
    w.bus.resyncAll();
    expect((await next).value.seq).toBe(2);
    expect(await take(stream, 1)).toEqual([3]);
    stream.close();
  });

  it('a replay joins stored events, published-but-unstored ones (recent) and live ones without gap or duplicate', async () => {
    const w = world();
    w.store([delta(1), delta(2), delta(3)]);
    // 4 and 5 are published by a writer elsewhere, not stored yet.
    w.bus.publish(delta(4));
    w.bus.publish(delta(5));
    const stream = w.open({ replay: true, after: 0 });
    const first = take(stream, 6);
    await new Promise((resolve) => setTimeout(resolve, 10));
    w.bus.publish(delta(5));
    w.bus.publish(delta(6));
    expect(await first).toEqual([1, 2, 3, 4, 5, 6]);
    stream.close();
  });

  it('a runEvents-style filter: other runs\' seqs advance the position (no gap), only its own are sent', async () => {
    const w = world();
    const stream = w.open({ accept: (e) => e.kind === 'MESSAGE_DELTA' && e.runId === 'mine' });
    const readsBefore = w.reads();
    for (let seq = 1; seq <= 20; seq++) w.bus.publish(delta(seq, seq % 3 === 0 ? 'mine' : 'other'));
    expect(await take(stream, 6)).toEqual([3, 6, 9, 12, 15, 18]);
    // One read when the subscription took effect; none for the interleaved seqs.
    expect(w.reads() - readsBefore).toBeLessThanOrEqual(1);
    stream.close();
  });

  it('a subscriber that does not read holds a bounded buffer, then reads the store: every event once', async () => {
    const w = world();
    const stream = w.open();
    await take(stream, 0);
    const total = LIVE_BUFFER_EVENTS * 3;
    const events = Array.from({ length: total }, (_, i) => delta(i + 1));
    for (const event of events) {
      w.bus.publish(event);
      w.store([event]);
      w.bus.publishStored(T, event.seq);
      expect(stream.stats().buffered).toBeLessThanOrEqual(LIVE_BUFFER_EVENTS);
    }
    expect(stream.stats().fellBehind).toBeGreaterThan(0);
    expect(await take(stream, total)).toEqual(events.map((e) => e.seq));
    stream.close();
  });
});
