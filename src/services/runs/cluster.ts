import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Store } from '../../store/types.js';
import { ThreadLockedError, type EventLog } from '../events/event-log.js';
import type { ControlMessage } from '../events/pubsub.js';
import type { RunEngine } from './engine.js';
import { reapThread } from './reaper.js';

export interface RunClusterOptions {
  leaseTtlMs: number;
  /** Ends the streams this instance serves for a deleted thread (another instance deleted it). */
  onThreadDeleted?: (threadId: string) => void;
}

/** Threads taken over, and queued threads started, per tick (the next tick takes the rest). */
const BATCH = 20;

/**
 * The background work that lets runs execute on any of several instances (and on one, the
 * same protocol): lease renewal (TTL/3; a lease the database no longer confirms stops its run),
 * the reaper (TTL/2: threads whose writer's lease expired are taken over, see reaper.ts; waiting
 * runs past their deadline end EXPIRED), the dispatcher (QUEUED runs on idle threads start on
 * whichever instance gets them first, on a `wake` message or at the poll backstop), and the
 * control messages that reach the instance executing a run (cancel-run, thread-deleted).
 */
export class RunCluster {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly offControl: () => void;
  private dispatching = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly log: EventLog,
    private readonly runs: RunEngine,
    private readonly logger: Logger,
    private readonly options: RunClusterOptions,
  ) {
    this.offControl = log.pubsub.onControl((message) => this.onControl(message));
  }

  start(): void {
    const ttl = this.options.leaseTtlMs;
    this.every(ttl / 3, () => this.renew());
    this.every(ttl / 2, () => this.reap());
    this.every(Math.min(2000, ttl), () => this.dispatch());
    // Queued runs no instance started (their instance stopped) start now, not at the first tick.
    void this.dispatch().catch((err: unknown) => this.logger.warn({ err }, 'could not start queued runs'));
  }

  /** Stops taking new work (the dispatcher and reaper); renewal goes on until `stop()` for runs that finish. */
  stopTakingWork(): void {
    this.stopped = true;
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.offControl();
  }

  private every(ms: number, work: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      work()
        .catch((err: unknown) => this.logger.warn({ err }, 'cluster upkeep failed; trying again at the next tick'))
        .finally(() => (running = false));
    }, Math.max(50, Math.round(ms)));
    timer.unref();
    this.timers.push(timer);
  }

  private onControl(message: ControlMessage): void {
    if (message.type === 'cancel-run') this.runs.abortLocal({ runId: message.runId }, 'CANCELLED');
    else if (message.type === 'thread-deleted') {
      this.runs.abortLocal({ threadId: message.threadId }, 'CANCELLED');
      this.options.onThreadDeleted?.(message.threadId);
    } else if (message.type === 'wake') void this.dispatch().catch((err: unknown) => this.logger.warn({ err }, 'could not start queued runs'));
    else if (message.type === 'flush') void this.log.storeForeign(message.threadId).catch(() => undefined);
  }

  /** One statement for all of this instance's leases; a lease it does not return is lost. */
  private async renew(): Promise<void> {
    const held = this.log.heldLeases();
    if (held.length === 0) return;
    const startedAt = performance.now();
    const renewed = await this.store.leases.renew(this.log.instanceId, held.map((h) => h.threadId), this.options.leaseTtlMs);
    const epochs = new Map(renewed.held.map((h) => [h.threadId, h.epoch]));
    for (const { threadId, epoch } of held) {
      if (epochs.get(threadId) === epoch) this.log.confirmLease(threadId, epoch, startedAt);
      else if (!epochs.has(threadId)) this.log.dropLease(threadId, epoch);
    }
    // The durable side of cancelRun: a cancel message that never arrived costs at most TTL/3.
    for (const runId of renewed.cancelRequested) this.runs.abortLocal({ runId }, 'CANCELLED');
  }

  private async reap(): Promise<void> {
    if (this.stopped) return;
    const mine = this.runs.executingThreads();
    for (const threadId of await this.store.leases.expired(BATCH)) {
      // A run executing here renews its own lease; if the database lets it lapse, its writes are fenced anyway.
      if (mine.has(threadId)) continue;
      const ended = await reapThread(this.store, this.log, threadId).catch((err: unknown) => {
        if (err instanceof ThreadLockedError) return null;
        throw err;
      });
      if (ended) {
        this.logger.warn({ runId: ended.id, threadId }, `took over a run whose instance stopped renewing its lease: ended ${ended.status}`);
        this.runs.reaped(ended);
      } else this.runs.resumeQueued([threadId]);
    }
    for (const run of await this.store.runs.waitingPast(new Date(), BATCH)) await this.runs.expireOverdue(run);
  }

  /** Starts queued runs of idle threads; instances race for them, the database decides. */
  async dispatch(): Promise<void> {
    if (this.stopped || this.dispatching || !this.runs.isAccepting()) return;
    this.dispatching = true;
    try {
      this.runs.resumeQueued(await this.store.leases.idleWithQueued(BATCH));
    } finally {
      this.dispatching = false;
    }
  }
}
