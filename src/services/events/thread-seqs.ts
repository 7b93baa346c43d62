import type { MessageDeltaEvent } from './types.js';

/**
 * This instance's lease on a thread whose run it executes: the epoch that fences its writes,
 * the next seq it may publish and the last one its window allows (publishing stops there until
 * a store moves the window on), and when the database last confirmed the lease (monotonic ms).
 */
export interface Lease {
  epoch: number;
  next: number;
  windowEnd: number;
  confirmedAt: number;
}

/** A delta waiting for its seq: a store of the thread is open, or the window is full. */
export interface HeldDelta {
  runId: string;
  messageId: string;
  delta: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * What the event log knows of each thread it writes to: its lease (while this instance
 * executes the thread's run), the deltas published but not yet stored, the deltas waiting for
 * a seq, and a lock that orders its commits and flushes.
 */
export class ThreadState {
  /** The highest seq this instance published on the thread (stored or pending); null: none yet. */
  lastSeq: number | null = null;
  lease: Lease | null = null;
  /** A transaction of this thread is open: new deltas wait in `held`, so they get seqs after it. */
  allocating = false;
  held: HeldDelta[] = [];
  busy: Promise<void> | null = null;
  pendingChars = 0;
  /** Flushes of this thread refused in a row, and when its next one may run (its own backoff). */
  flushFailures = 0;
  retryAt = 0;
  private pending: MessageDeltaEvent[] = [];
  /** Deltas taken for a write that has not committed yet: still unstored for replays. */
  private inFlight: MessageDeltaEvent[] = [];

  constructor(readonly threadId: string) {}

  addPending(event: MessageDeltaEvent): void {
    this.pending.push(event);
    this.pendingChars += event.delta.length;
  }

  takePending(): MessageDeltaEvent[] {
    const batch = this.pending;
    this.pending = [];
    this.pendingChars = 0;
    this.inFlight = this.inFlight.concat(batch);
    return batch;
  }

  /** After a failed write: the batch goes back in front, to be stored by the next one. */
  restorePending(batch: MessageDeltaEvent[]): void {
    this.settle(batch);
    if (batch.length === 0) return;
    this.pending = batch.concat(this.pending);
    this.pendingChars += batch.reduce((n, e) => n + e.delta.length, 0);
  }

  /** A batch whose write ended (stored, given back, or given up with the lease). */
  settle(batch: MessageDeltaEvent[]): void {
    if (batch.length === 0) return;
    const settled = new Set(batch);
    this.inFlight = this.inFlight.filter((e) => !settled.has(e));
  }

  /** The lease is gone: what was published and not stored never will be (its seqs are closed as gaps). */
  dropUnstored(): void {
    this.pending = [];
    this.pendingChars = 0;
    this.inFlight = [];
  }

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  pendingCount(): number {
    return this.pending.length;
  }

  unstored(): MessageDeltaEvent[] {
    return [...this.inFlight, ...this.pending].sort((a, b) => a.seq - b.seq);
  }
}

export class ThreadSeqs {
  private readonly states = new Map<string, ThreadState>();

  get(threadId: string): ThreadState {
    let state = this.states.get(threadId);
    if (!state) this.states.set(threadId, (state = new ThreadState(threadId)));
    return state;
  }

  peek(threadId: string): ThreadState | undefined {
    return this.states.get(threadId);
  }

  delete(threadId: string): void {
    this.states.delete(threadId);
  }

  all(): ThreadState[] {
    return [...this.states.values()];
  }

  withPending(): ThreadState[] {
    return this.all().filter((s) => s.hasPending());
  }

  /** Runs `work` when no other commit or flush of the thread runs. */
  async exclusive<T>(threadId: string, work: (state: ThreadState) => Promise<T>): Promise<T> {
    const state = this.get(threadId);
    while (state.busy) await state.busy;
    return this.hold([state], () => work(state));
  }

  /** Runs `work` holding several threads that are free now (the timed flush). */
  exclusiveAll<T>(states: ThreadState[], work: (held: ThreadState[]) => Promise<T>): Promise<T> {
    const free = states.filter((s) => !s.busy);
    return this.hold(free, () => work(free));
  }

  private async hold<T>(states: ThreadState[], work: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const busy = new Promise<void>((resolve) => (release = resolve));
    for (const s of states) s.busy = busy;
    try {
      return await work();
    } finally {
      for (const s of states) {
        s.busy = null;
      }
      release();
    }
  }
}
