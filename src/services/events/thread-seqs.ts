import type { MessageDeltaEvent } from './types.js';

/**
 * What the event log knows of each thread it writes to: the last seq it published, the deltas
 * published but not yet stored, and a lock that orders its commits and flushes.
 */
export class ThreadState {
  /** The highest seq published (stored or pending); null until known. */
  lastSeq: number | null = null;
  /** A commit is allocating seqs: new deltas wait in `held` so they get seqs after its events. */
  allocating = false;
  loading = false;
  held: { runId: string; messageId: string; delta: string }[] = [];
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

  /** A batch whose write ended (stored, or given back). */
  settle(batch: MessageDeltaEvent[]): void {
    if (batch.length === 0) return;
    const settled = new Set(batch);
    this.inFlight = this.inFlight.filter((e) => !settled.has(e));
  }

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  pendingCount(): number {
    return this.pending.length;
  }

  unstoredCount(): number {
    return this.inFlight.length + this.pending.length + this.held.length;
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

  withPending(): ThreadState[] {
    return [...this.states.values()].filter((s) => s.hasPending());
  }

  /** Runs `work` when no other commit or flush of the thread runs. */
  async exclusive<T>(threadId: string, work: (state: ThreadState) => Promise<T>): Promise<T> {
    const state = this.get(threadId);
    while (state.busy) await state.busy;
    return this.hold([state], () => work(state));
  }

  /** Runs `work` holding several threads that are free now (the timed flush). */
  exclusiveAll<T>(states: ThreadState[], work: () => Promise<T>): Promise<T> {
    return this.hold(states.filter((s) => !s.busy), work);
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
