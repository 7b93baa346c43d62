import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { RedisClients } from '../../redis.js';
import {
  ControlHandlers,
  LocalListeners,
  RECENT_IDLE_MS,
  RECENT_MAX_EVENTS,
  RecentEvents,
  type ControlHandler,
  type ControlMessage,
  type PubSub,
  type Subscription,
  type ThreadListener,
} from './pubsub.js';
import { eventFromWire, eventToWire } from './serialize.js';
import type { ThreadEvent } from './types.js';

/** While the subscriber connection is down, listeners are told to catch up from the database this often. */
export const RESYNC_WHILE_DOWN_MS = 500;
/**
 * A SUBSCRIBE not acknowledged by then (a Redis that accepts commands but does not answer) stops
 * holding the subscriber's first read; when the acknowledgement comes, the thread's listeners
 * catch up what they may have missed meanwhile.
 */
export const SUBSCRIBE_WAIT_MS = 2000;

/**
 * One call per published event: remember it in the thread's recent set (a sorted set scored by
 * seq, so that out-of-order publishes across instances, a foreign write above the writer's
 * window, are kept in seq order, which a Stream's increasing IDs would refuse), bound the set,
 * let it expire with the thread's activity, and publish it. One script: the set always holds an
 * event before any subscriber can hear of it.
 */
const PUBLISH_EVENT = `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('PUBLISH', ARGV[5], ARGV[6])`;

/** Stored through a seq: those events leave the recent set (the database has them), and subscribers hear of it. */
const PUBLISH_STORED = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('PUBLISH', ARGV[2], ARGV[3])`;

type Wire = { o: string; k: 'e'; e: Parameters<typeof eventFromWire>[0] } | { o: string; k: 's'; t: string; through: number } | { o: string; k: 'c'; m: ControlMessage };

/**
 * Live fan-out through Redis pub/sub, for several instances on one database.
 *
 * Listeners of this process get every local publish synchronously (the fast path, as with one
 * process); the same event goes to Redis for the other instances, and its echo here is ignored
 * (messages carry their origin). Each thread has a channel, subscribed while this instance has a
 * listener of it; control messages share one channel. A publish never waits and never throws: a
 * failed one is dropped, and the subscribers that missed it catch up from the database (every
 * event is stored within one flush) when they see the gap, a stored notice, or resync().
 */
export class RedisPubSub implements PubSub {
  private readonly local = new LocalListeners();
  /** This process's own publishes not yet stored: its subscribers have them even if Redis dropped them. */
  private readonly localRecent = new RecentEvents();
  private readonly control = new ControlHandlers();
  /** Thread → the acknowledgement of its channel's SUBSCRIBE. */
  private readonly subscribed = new Map<string, Promise<void>>();
  private readonly origin = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly controlChannel: string;
  private live = false;
  private outageTimer: NodeJS.Timeout | null = null;
  private readonly firstReady: Promise<void>;
  private dropped = 0;
  private lastDropLog = 0;
  private closed = false;
  /** Threads whose publishes Redis did not take: their stored notice is sent again once it is ready. */
  private readonly unsent = new Set<string>();

  constructor(
    private readonly redis: RedisClients,
    private readonly logger: Logger,
    /** The thread's stored high-water mark (the database's): what a re-sent notice says. */
    private readonly storedThrough?: (threadId: string) => Promise<number>,
  ) {
    this.controlChannel = `${redis.prefix}control`;
    this.control.add((message) => {
      if (message.type === 'thread-deleted') this.localRecent.forget(message.threadId);
    });
    redis.command.defineCommand('tqlPublishEvent', { numberOfKeys: 1, lua: PUBLISH_EVENT });
    redis.command.defineCommand('tqlPublishStored', { numberOfKeys: 1, lua: PUBLISH_STORED });
    const sub = redis.subscriber;
    sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    sub.on('close', () => this.onDown());
    let markReady!: () => void;
    this.firstReady = new Promise((resolve) => (markReady = resolve));
    sub.on('ready', () => void this.onUp().then(markReady, () => {}));
    if (sub.status === 'ready') void this.onUp().then(markReady, () => {});
    // A run's last events (and their stored notice) dropped in an outage would leave the other
    // instances' subscribers waiting for a message that never comes: tell them what is stored.
    redis.command.on('ready', () => void this.resendStored());
  }

  publish(event: ThreadEvent): void {
    this.localRecent.add(event);
    this.local.each(event.threadId, (l) => l.event(event));
    const wire = eventToWire(event);
    const message = `{"o":${JSON.stringify(this.origin)},"k":"e","e":${wire}}`;
    this.send(event.threadId, 'tqlPublishEvent', [this.recentKey(event.threadId), event.seq, wire, RECENT_IDLE_MS, RECENT_MAX_EVENTS, this.channel(event.threadId), message]);
  }

  publishStored(threadId: string, through: number): void {
    this.localRecent.stored(threadId, through);
    this.local.each(threadId, (l) => l.stored?.(through));
    const message = JSON.stringify({ o: this.origin, k: 's', t: threadId, through } satisfies Wire);
    this.send(threadId, 'tqlPublishStored', [this.recentKey(threadId), through, this.channel(threadId), message]);
  }

  /** The stored notices of the threads whose publishes were dropped, from the database's high-water mark. */
  private async resendStored(): Promise<void> {
    if (this.closed || !this.storedThrough) return;
    const threadIds = [...this.unsent];
    this.unsent.clear();
    for (const threadId of threadIds) {
      let through: number;
      try {
        through = await this.storedThrough(threadId);
      } catch {
        // The database is not answering either: subscribers' idle checks (IDLE_CHECK_MS) are the backstop.
        continue;
      }
      if (through === 0) continue;
      const message = JSON.stringify({ o: this.origin, k: 's', t: threadId, through } satisfies Wire);
      this.send(threadId, 'tqlPublishStored', [this.recentKey(threadId), through, this.channel(threadId), message]);
    }
  }

  subscribe(threadId: string, listener: ThreadListener): Subscription {
    const unsubscribe = this.local.add(threadId, listener, () => this.leave(threadId));
    let ready = this.subscribed.get(threadId);
    if (!ready) {
      ready = this.join(threadId);
      this.subscribed.set(threadId, ready);
    }
    return { ready, unsubscribe };
  }

  async recent(threadId: string, after: number): Promise<ThreadEvent[]> {
    const mine = this.localRecent.after(threadId, after);
    if (this.redis.command.status !== 'ready') return mine;
    let members: string[];
    try {
      members = await this.redis.command.zrangebyscore(this.recentKey(threadId), `(${after}`, '+inf');
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message }, threadId }, 'could not read recent events from redis; the database is read alone');
      return mine;
    }
    const bySeq = new Map<number, ThreadEvent>();
    for (const member of members) {
      const event = eventFromWire(member);
      bySeq.set(event.seq, event);
    }
    for (const event of mine) bySeq.set(event.seq, event);
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  async sendControl(message: ControlMessage): Promise<void> {
    this.control.dispatch(message);
    if (this.redis.command.status !== 'ready') return;
    try {
      await this.redis.command.publish(this.controlChannel, JSON.stringify({ o: this.origin, k: 'c', m: message } satisfies Wire));
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message }, control: message.type }, 'could not send a control message through redis');
    }
  }

  onControl(handler: ControlHandler): () => void {
    return this.control.add(handler);
  }

  ready(): Promise<void> {
    return this.firstReady;
  }

  async ping(): Promise<void> {
    if (!this.live) throw new Error('the redis subscriber connection is not ready');
    await this.redis.command.ping();
  }

  listenerCount(): number {
    return this.local.size();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopOutageTimer();
  }

  /** Subscribes the thread's channel if the connection is up; otherwise the next 'ready' does it. */
  private async join(threadId: string): Promise<void> {
    if (!this.live) return;
    let late = false;
    const acknowledged = this.redis.subscriber.subscribe(this.channel(threadId)).then(
      () => {
        if (late) this.local.each(threadId, (l) => l.resync?.());
      },
      // Disconnected meanwhile: resync() follows the reconnect.
      () => {},
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(() => ((late = true), resolve()), SUBSCRIBE_WAIT_MS);
      timer.unref();
    });
    await Promise.race([acknowledged, waited]);
    clearTimeout(timer);
  }

  private leave(threadId: string): void {
    this.subscribed.delete(threadId);
    if (this.live) this.redis.subscriber.unsubscribe(this.channel(threadId)).catch(() => {});
  }

  /** (Re)connected: subscribe every channel in use, then every listener catches up (what happened meanwhile is in the database). */
  private async onUp(): Promise<void> {
    if (this.closed) return;
    const threadIds = this.local.threadIds();
    await this.redis.subscriber.subscribe(this.controlChannel, ...threadIds.map((t) => this.channel(t)));
    const wasDown = this.outageTimer !== null;
    this.live = true;
    this.stopOutageTimer();
    for (const threadId of threadIds) this.subscribed.set(threadId, Promise.resolve());
    if (wasDown) {
      this.logger.info({ threads: threadIds.length }, 'redis is back: live delivery resumed; subscribers catch up from the database');
      this.local.all((l) => l.resync?.());
    }
  }

  private onDown(): void {
    if (this.closed || this.outageTimer) return;
    this.live = false;
    // Subscribers fall back to reading the database until the subscriber connection is back.
    this.outageTimer = setInterval(() => this.local.all((l) => l.resync?.()), RESYNC_WHILE_DOWN_MS);
    this.outageTimer.unref();
    this.local.all((l) => l.resync?.());
  }

  private stopOutageTimer(): void {
    if (this.outageTimer) clearInterval(this.outageTimer);
    this.outageTimer = null;
  }

  private onMessage(_channel: string, message: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(message) as Wire;
    } catch {
      return;
    }
    // Our own publishes reached our listeners already, synchronously.
    if (wire.o === this.origin) return;
    if (wire.k === 'e') {
      const event = eventFromWire(wire.e);
      this.local.each(event.threadId, (l) => l.event(event));
    } else if (wire.k === 's') {
      this.local.each(wire.t, (l) => l.stored?.(wire.through));
    } else if (wire.k === 'c') {
      this.control.dispatch(wire.m);
    }
  }

  /** A script call that may fail: the failure is counted and logged now and then, never thrown. */
  private send(threadId: string, command: 'tqlPublishEvent' | 'tqlPublishStored', args: (string | number)[]): void {
    const client = this.redis.command as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
    if (this.redis.command.status !== 'ready') return this.drop(threadId, new Error(`redis is ${this.redis.command.status}`));
    client[command]!(...args).catch((err: unknown) => this.drop(threadId, err));
  }

  private drop(threadId: string, err: unknown): void {
    this.unsent.add(threadId);
    this.dropped++;
    if (Date.now() - this.lastDropLog < 5000) return;
    this.lastDropLog = Date.now();
    this.logger.warn({ err: { message: (err as Error).message }, dropped: this.dropped }, 'live events not sent through redis; other instances catch up from the database');
  }

  private channel(threadId: string): string {
    return `${this.redis.prefix}thread:${threadId}`;
  }

  private recentKey(threadId: string): string {
    return `${this.redis.prefix}recent:${threadId}`;
  }
}

/**
 * A control message from a process that is no instance (the keys CLI): connects, publishes,
 * disconnects. Best effort like every control message: the instances' own checks are the fallback.
 */
export async function sendControlOnce(url: string, prefix: string, message: ControlMessage): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.publish(`${prefix}control`, JSON.stringify({ o: `cli-${process.pid}`, k: 'c', m: message } satisfies Wire));
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
