import type { ThreadEvent } from './types.js';

export type EventListener = (event: ThreadEvent) => void;

/**
 * Live fan-out of thread events. Small on purpose: a Redis-backed implementation can replace
 * the in-memory one when several instances serve one database.
 */
export interface PubSub {
  publish(event: ThreadEvent): void;
  /** Returns the function that removes the listener. */
  subscribe(threadId: string, listener: EventListener): () => void;
  /** Live listeners across all threads (leak checks, metrics). */
  listenerCount(): number;
}

export class InMemoryPubSub implements PubSub {
  private readonly listeners = new Map<string, Set<EventListener>>();
  private count = 0;

  publish(event: ThreadEvent): void {
    const set = this.listeners.get(event.threadId);
    if (!set) return;
    for (const listener of [...set]) listener(event);
  }

  subscribe(threadId: string, listener: EventListener): () => void {
    let set = this.listeners.get(threadId);
    if (!set) this.listeners.set(threadId, (set = new Set()));
    set.add(listener);
    this.count++;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.count--;
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(threadId) === set) this.listeners.delete(threadId);
    };
  }

  listenerCount(): number {
    return this.count;
  }
}
