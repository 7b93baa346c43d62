import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** Counts actions per key (owner) in fixed windows. */
export interface RateLimiter {
  /** Counts one; resolves 0 when allowed, else the milliseconds until the window resets. */
  take(key: string): Promise<number>;
}

/**
 * Fixed-window counters per key (owner). Small and in memory: one instance serves one process
 * (several instances share RedisRateLimiter instead).
 */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one; returns 0 when allowed, else the milliseconds until the window resets. */
  take(key: string, now = Date.now()): number {
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      if (this.windows.size > 10_000) this.prune(now);
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    if (window.count >= this.limit) return window.start + this.windowMs - now;
    window.count++;
    return 0;
  }

  private prune(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
  }
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly windows: FixedWindowLimiter;

  constructor(limit: number, windowMs: number) {
    this.windows = new FixedWindowLimiter(limit, windowMs);
  }

  take(key: string): Promise<number> {
    return Promise.resolve(this.windows.take(key));
  }
}

/**
 * rate-limiter-flexible's own script, with the window set in milliseconds (PX) instead of whole
 * seconds, so that RATE_LIMIT_WINDOW_MS=1500 means 1.5 s on Redis as it does in memory.
 * ARGV: points to consume, the window in whole seconds (unused), the limit, the window in seconds.
 */
const INCR_WITH_PX = `
local ms = math.floor(tonumber(ARGV[4]) * 1000)
redis.call('set', KEYS[1], 0, 'PX', ms, 'NX')
local consumed = redis.call('incrby', KEYS[1], ARGV[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('pexpire', KEYS[1], ms)
  ttl = ms
end
return {consumed, ttl}`;

/** The shortest window Redis counts (rate-limiter-flexible expires keys by whole seconds otherwise). */
export const MIN_REDIS_WINDOW_MS = 1000;

/**
 * One counter per owner and window in Redis, shared by every instance (rate-limiter-flexible's
 * RateLimiterRedis: one atomic script per take). While Redis is down or slow, its insurance
 * limiter counts in this process's memory instead: the limit then holds per instance, so a
 * cluster of N instances lets up to N times the limit through until Redis is back.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(client: Redis, keyPrefix: string, limit: number, windowMs: number) {
    const duration = Math.max(windowMs, MIN_REDIS_WINDOW_MS) / 1000;
    this.limiter = new RateLimiterRedis({
      storeClient: client,
      keyPrefix,
      points: limit,
      duration,
      customIncrTtlLuaScript: INCR_WITH_PX,
      // Not connected: count in memory at once rather than wait for a command to time out.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ points: limit, duration }),
    });
  }

  async take(key: string): Promise<number> {
    try {
      await this.limiter.consume(key);
      return 0;
    } catch (result) {
      if (result instanceof RateLimiterRes) return Math.max(1, result.msBeforeNext);
      throw result;
    }
  }
}
