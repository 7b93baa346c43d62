import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The two Redis connections an instance keeps when REDIS_URL is set: one for commands
 * (publishes, recent events, rate limits, subscription counts) and one in subscriber mode.
 *
 * Redis is never on the storage path, so both fail fast instead of queueing: with the offline
 * queue off, a command while disconnected rejects at once ("Stream isn't writeable") and its
 * caller falls back (a publish is dropped: subscribers catch up from the database; a rate
 * limit is counted in memory). Queued commands would be flushed after a reconnect, before the
 * subscriber re-subscribed, and be lost anyway (scale-out-notes §2.9). Both reconnect forever.
 *
 * ioredis rather than node-redis: it emits 'ready' after every reconnect and fails fast with the
 * offline queue off (both verified against a restarted Redis here), defines Lua scripts as
 * commands (defineCommand: EVALSHA with a fallback to EVAL), and is the client
 * rate-limiter-flexible and the ecosystem's pub/sub adapters (graphql-yoga, LibreChat,
 * resumable-stream) are built and tested on. 5.x runs on Node 20 (6.x needs Node >= 20 and RESP3).
 */
export interface RedisClients {
  command: Redis;
  subscriber: Redis;
  /** Every key and channel starts with it (REDIS_PREFIX): several deployments or test runs share one Redis. */
  prefix: string;
  close(): Promise<void>;
}

/** Reconnect quickly, then every second: an outage should cost about its own length. */
const retryStrategy = (attempt: number) => Math.min(50 * attempt, 1000);

export function connectRedis(url: string, prefix: string, logger: Logger): RedisClients {
  const base: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A Redis that accepts the connection but does not answer must not hold a caller long.
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy,
  };
  const command = new Redis(url, { ...base, connectionName: 'threadql' });
  // Subscriptions are made again by RedisPubSub itself after a reconnect, so that it knows when they are acknowledged.
  const subscriber = new Redis(url, { ...base, commandTimeout: undefined, autoResubscribe: false, connectionName: 'threadql-sub' });
  for (const [role, client] of [['command', command], ['subscriber', subscriber]] as const) {
    let lastLog = 0;
    // Without a listener an 'error' would crash the process; with one, throttled: a Redis outage is one line a few seconds.
    client.on('error', (err: Error) => {
      if (Date.now() - lastLog < 5000) return;
      lastLog = Date.now();
      logger.warn({ err: { message: err.message } }, `redis (${role}) connection error; reconnecting`);
    });
  }
  return {
    command,
    subscriber,
    prefix,
    async close() {
      await Promise.allSettled([command.quit(), subscriber.quit()]);
      command.disconnect();
      subscriber.disconnect();
    },
  };
}
