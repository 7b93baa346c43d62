import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { RateLimitedError } from '../../errors.js';
import type { RedisClients } from '../../redis.js';

/** Open subscriptions per owner (MAX_SUBSCRIPTIONS_PER_OWNER): reserved when one opens, released when it ends. */
export interface SubscriptionCaps {
  /** Rejects with RATE_LIMITED at the limit; resolves with the function that releases the place (twice is harmless). */
  reserve(owner: string): Promise<() => void>;
  stop(): void;
}

function limitReached(max: number): RateLimitedError {
  return new RateLimitedError(`open subscriptions (the limit is ${max} per owner, MAX_SUBSCRIPTIONS_PER_OWNER); close one first`, 1000);
}

/** One process: a count per owner. */
export class LocalSubscriptionCaps implements SubscriptionCaps {
  private readonly perOwner = new Map<string, number>();

  constructor(private readonly max: number) {}

  reserve(owner: string): Promise<() => void> {
    const count = this.perOwner.get(owner) ?? 0;
    if (count >= this.max) return Promise.reject(limitReached(this.max));
    this.perOwner.set(owner, count + 1);
    let released = false;
    return Promise.resolve(() => {
      if (released) return;
      released = true;
      const left = (this.perOwner.get(owner) ?? 1) - 1;
      if (left > 0) this.perOwner.set(owner, left);
      else this.perOwner.delete(owner);
    });
  }

  /** This process's open subscriptions of the owner. */
  count(owner: string): number {
    return this.perOwner.get(owner) ?? 0;
  }

  stop(): void {}
}

/** A place lives this long unless its instance renews it: a killed instance's places free themselves. */
export const SUBSCRIPTION_PLACE_TTL_MS = 15_000;
const RENEW_EVERY_MS = 5_000;

/** Drop expired places, refuse at the limit, else take one; Redis's clock, so instances' clocks need not agree. */
const RESERVE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** Renews (or, after a Redis restart, restores) this instance's places of one owner. */
const RENEW = `
local t = redis.call('TIME')
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/**
 * Several instances: each open subscription holds a place in a per-owner sorted set in Redis
 * (scored by its expiry, renewed by its instance every few seconds), so the cap counts every
 * instance's subscriptions. While Redis does not answer, the cap is checked against this
 * instance's own subscriptions (it holds per instance then), and the places are restored at
 * the next renewal.
 */
export class RedisSubscriptionCaps implements SubscriptionCaps {
  /** owner → this instance's place ids. */
  private readonly places = new Map<string, Set<string>>();
  private readonly instance = randomBytes(6).toString('hex');
  private next = 0;
  private lastWarning = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisClients,
    private readonly max: number,
    private readonly logger: Logger,
  ) {
    redis.command.defineCommand('tqlReservePlace', { numberOfKeys: 1, lua: RESERVE });
    redis.command.defineCommand('tqlRenewPlaces', { numberOfKeys: 1, lua: RENEW });
    this.timer = setInterval(() => this.renew(), RENEW_EVERY_MS);
    this.timer.unref();
  }

  async reserve(owner: string): Promise<() => void> {
    const id = `${this.instance}:${++this.next}`;
    const command = this.redis.command as unknown as { tqlReservePlace(...args: (string | number)[]): Promise<number> };
    let taken: boolean;
    try {
      if (this.redis.command.status !== 'ready') throw new Error(`redis is ${this.redis.command.status}`);
      taken = (await command.tqlReservePlace(this.key(owner), this.max, SUBSCRIPTION_PLACE_TTL_MS, id)) === 1;
    } catch (err) {
      if (Date.now() - this.lastWarning > 5000) {
        this.lastWarning = Date.now();
        this.logger.warn({ err: { message: (err as Error).message } }, 'subscription cap: redis does not answer; counting this instance only');
      }
      taken = (this.places.get(owner)?.size ?? 0) < this.max;
    }
    if (!taken) throw limitReached(this.max);
    let set = this.places.get(owner);
    if (!set) this.places.set(owner, (set = new Set()));
    set.add(id);
    return () => {
      if (!set.delete(id)) return;
      if (set.size === 0 && this.places.get(owner) === set) this.places.delete(owner);
      this.redis.command.zrem(this.key(owner), id).catch(() => {});
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private renew(): void {
    if (this.redis.command.status !== 'ready') return;
    const command = this.redis.command as unknown as { tqlRenewPlaces(...args: (string | number)[]): Promise<number> };
    for (const [owner, ids] of this.places) {
      command.tqlRenewPlaces(this.key(owner), SUBSCRIPTION_PLACE_TTL_MS, ...ids).catch(() => {});
    }
  }

  private key(owner: string): string {
    return `${this.redis.prefix}subs:${owner}`;
  }
}
