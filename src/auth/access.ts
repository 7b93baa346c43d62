import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { RateLimitedError, UnauthenticatedError } from '../errors.js';
import { LOCAL_OWNER, type KeyStore } from '../store/types.js';
import { findLiveKey } from './keys.js';
import type { RedisClients } from '../redis.js';
import type { PubSub } from '../services/events/pubsub.js';
import { MemoryRateLimiter, RedisRateLimiter, type RateLimiter } from './rate-limit.js';

export interface Caller {
  owner: string;
  /** null in open mode (no keys exist). */
  keyId: string | null;
}

export interface SharedAccessOptions {
  /** Rate limits counted in Redis, across instances (default: in this process). */
  redis?: RedisClients | null;
  /** key-revoked control messages end a key's sessions at once (the sweep is the fallback). */
  pubsub?: PubSub;
  sweepIntervalMs?: number;
}

/**
 * Who is calling, and whether they may. Every transport authenticates through here; open
 * subscriptions are tracked per key so that revoking a key (from the CLI, another process or
 * instance) ends them within a sweep interval, or at once when a key-revoked message arrives.
 */
export class AccessControl {
  private readonly requests: RateLimiter;
  private readonly runs: RateLimiter;
  private readonly stopControl: () => void;
  private readonly sessions = new Map<string, Set<() => void>>();
  private readonly sweep: NodeJS.Timeout;
  private keysExist = false;

  constructor(
    private readonly keys: KeyStore,
    config: Config,
    private readonly logger: Logger,
    shared: SharedAccessOptions = {},
  ) {
    const { requests, runs, windowMs } = config.rateLimit;
    const redis = shared.redis;
    this.requests = redis ? new RedisRateLimiter(redis.command, `${redis.prefix}rl:requests`, requests, windowMs) : new MemoryRateLimiter(requests, windowMs);
    this.runs = redis ? new RedisRateLimiter(redis.command, `${redis.prefix}rl:runs`, runs, windowMs) : new MemoryRateLimiter(runs, windowMs);
    this.stopControl =
      shared.pubsub?.onControl((message) => {
        if (message.type !== 'key-revoked') return;
        this.closeRevokedSessions([message.keyId]).catch((err: unknown) => this.logger.warn({ err }, 'could not check a revoked key; the sweep will'));
      }) ?? (() => {});
    const sweepIntervalMs = shared.sweepIntervalMs ?? 500;
    // A failed sweep (the database busy or gone) is logged and tried again next time, never thrown from a timer.
    this.sweep = setInterval(() => {
      this.closeRevokedSessions().catch((err: unknown) => this.logger.warn({ err }, 'could not check for revoked keys; trying again'));
    }, sweepIntervalMs);
    this.sweep.unref();
  }

  /** From an `Authorization` value (`Bearer tql_…`). Throws UNAUTHENTICATED. */
  async authenticate(authorization: unknown): Promise<Caller> {
    if (authorization != null && typeof authorization !== 'string') {
      throw new UnauthenticatedError('The API key must be a string ("Bearer <key>").');
    }
    if (authorization) {
      const key = /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1];
      const row = key ? await findLiveKey(this.keys, key) : undefined;
      if (row) return { owner: row.owner, keyId: row.id };
      // Open mode: a bearer token that is no key of ours is ignored. The openai SDK always
      // sends one (it will not start without an apiKey), and in open mode no key exists.
      if (!key || (await this.keysRequired())) throw new UnauthenticatedError('The API key is not valid (unknown or revoked).');
      return { owner: LOCAL_OWNER, keyId: null };
    }
    if (await this.keysRequired()) throw new UnauthenticatedError('An API key is required: send Authorization: Bearer <key>.');
    return { owner: LOCAL_OWNER, keyId: null };
  }

  /** Whether the caller's key is still live (open mode: always). */
  async isLive(caller: Caller): Promise<boolean> {
    if (caller.keyId === null) return true;
    return !(await this.keys.find(caller.keyId))?.revokedAt;
  }

  /**
   * Once any key exists (created by the CLI, maybe in another process) every request needs one.
   * Keys are revoked, never deleted, so a yes is final and needs no further query.
   */
  async keysRequired(): Promise<boolean> {
    this.keysExist ||= await this.keys.any();
    return this.keysExist;
  }

  /** Counts a request for the owner (across instances with Redis); rejects with RATE_LIMITED over the limit. */
  async admitRequest(owner: string): Promise<void> {
    const waitMs = await this.requests.take(owner);
    if (waitMs > 0) throw new RateLimitedError('requests', waitMs);
  }

  /** Counts a run started by the owner (across instances with Redis); rejects with RATE_LIMITED over the limit. */
  async admitRun(owner: string): Promise<void> {
    const waitMs = await this.runs.take(owner);
    if (waitMs > 0) throw new RateLimitedError('runs started', waitMs);
  }

  /** Registers something to close when the key is revoked; returns the function that forgets it. */
  trackSession(keyId: string | null, close: () => void): () => void {
    if (keyId === null) return () => {};
    let set = this.sessions.get(keyId);
    if (!set) this.sessions.set(keyId, (set = new Set()));
    set.add(close);
    return () => {
      set.delete(close);
      if (set.size === 0 && this.sessions.get(keyId) === set) this.sessions.delete(keyId);
    };
  }

  /** Ends the sessions of revoked keys (among `keyIds`, default all with open sessions), checked in the database. */
  async closeRevokedSessions(keyIds?: string[]): Promise<void> {
    const candidates = (keyIds ?? [...this.sessions.keys()]).filter((id) => this.sessions.has(id));
    if (candidates.length === 0) return;
    const revoked = await this.keys.revokedAmong(candidates);
    for (const id of revoked) {
      for (const close of [...(this.sessions.get(id) ?? [])]) close();
      this.sessions.delete(id);
    }
  }

  stop(): void {
    clearInterval(this.sweep);
    this.stopControl();
  }
}
