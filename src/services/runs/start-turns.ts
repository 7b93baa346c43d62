/**
 * Requests that start runs take turns: one per turn of the event loop. Between two turns the
 * loop polls its sockets, so the runs already streaming publish the deltas their providers sent
 * meanwhile. Without turns, 50 sendMessage arriving at once are each processed to their provider
 * request back to back (SQLite is synchronous, the rest resolves in microtasks): ~50 × 3 ms in
 * one stretch, during which the first runs' first tokens sit unread in their sockets.
 *
 * Turns keep arrival order, and nothing waits when the loop is quiet: the first start of a turn
 * goes at once; the ones arriving in the same turn go one per following turn.
 */
export class StartTurns {
  private readonly waiting: Array<() => void> = [];
  /** A start went in the current turn; cleared by the next turn. */
  private busyTurn = false;

  /** Resolves when this start may go; undefined when it may go now. */
  take(): Promise<void> | undefined {
    if (!this.busyTurn && this.waiting.length === 0) {
      this.busyTurn = true;
      setImmediate(this.nextTurn);
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** How many starts wait for their turn (tests). */
  get queued(): number {
    return this.waiting.length;
  }

  private readonly nextTurn = (): void => {
    const next = this.waiting.shift();
    if (!next) {
      this.busyTurn = false;
      return;
    }
    // Its continuation (up to its provider request) runs once this callback returns; the poll
    // phase comes before the next turn.
    next();
    setImmediate(this.nextTurn);
  };
}
