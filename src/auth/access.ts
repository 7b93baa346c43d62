import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { RateLimitedError, UnauthenticatedError } from '../errors.js';
import { LOCAL_OWNER, type KeyStore } from '../store/types.js';
import { findLiveKey } from './keys.js';
import { FixedWindowLimiter } from './rate-limit.js';

export interface Caller {
  owner: string;
  /** null in open mode (no keys exist). */
  keyId: string | null;
}

/**
 * Who is calling, and whether they may. Every transport authenticates through here; open
 * subscriptions are tracked per key so that revoking a key (from the CLI, another process)
 * ends them within a sweep interval.
 */
export class AccessControl {
  private readonly requests: FixedWindowLimiter;
  private readonly runs: FixedWindowLimiter;
  private readonly sessions = new Map<string, Set<() => void>>();
  private readonly sweep: NodeJS.Timeout;
  private keysExist = false;

  constructor(
    private readonly keys: KeyStore,
    config: Config,
    private readonly logger: Logger,
    sweepIntervalMs = 500,
  ) {
    this.requests = new FixedWindowLimiter(config.rateLimit.requests, config.rateLimit.windowMs);
    this.runs = new FixedWindowLimiter(config.rateLimit.runs, config.rateLimit.windowMs);
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

  /** Counts a request for the owner; throws RATE_LIMITED over the limit. */
  takeRequest(owner: string): void {
    const waitMs = this.requests.take(owner);
    if (waitMs > 0) throw new RateLimitedError('requests', waitMs);
  }

  /** Counts a run started by the owner; throws RATE_LIMITED over the limit. */
  takeRun(owner: string): void {
    const waitMs = this.runs.take(owner);
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

  async closeRevokedSessions(): Promise<void> {
    if (this.sessions.size === 0) return;
    const revoked = await this.keys.revokedAmong([...this.sessions.keys()]);
    for (const id of revoked) {
      for (const close of [...(this.sessions.get(id) ?? [])]) close();
      this.sessions.delete(id);
    }
  }

  stop(): void {
    clearInterval(this.sweep);
  }
}
