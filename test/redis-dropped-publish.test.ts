import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisClients } from '../src/redis.js';
import { RedisPubSub } from '../src/services/events/redis-pubsub.js';
import type { MessageDeltaEvent } from '../src/services/events/types.js';
import { onPostgres, waitUntil } from './helpers.js';

/**
 * A publish Redis did not take (its command connection was down) is not the end of it: once the
 * connection is back, the publisher sends the thread's stored notice again, with the database's
 * high-water mark, so another instance's subscriber waiting for the run's last events catches up.
 * Module level: two RedisPubSubs on the shared Redis under a prefix of their own (no backend involved).
 */

const REDIS_URL = process.env.TEST_REDIS_URL;
if (!REDIS_URL) console.warn('[redis] skipped "a dropped publish": set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)');

describe.skipIf(!REDIS_URL || onPostgres)('RedisPubSub: a dropped publish', () => {
  const prefix = `tqltest:${process.pid}:${randomBytes(3).toString('hex')}:`;
  const logger = pino({ level: 'silent' });
  let clientsA: RedisClients;
  let clientsB: RedisClients;
  let a: RedisPubSub;
  let b: RedisPubSub;
  let hw = 0;

  beforeAll(async () => {
    clientsA = connectRedis(REDIS_URL!, prefix, logger);
    clientsB = connectRedis(REDIS_URL!, prefix, logger);
    a = new RedisPubSub(clientsA, logger, async () => hw);
    b = new RedisPubSub(clientsB, logger, async () => hw);
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await Promise.all([clientsA.close(), clientsB.close()]);
  });

  it('is followed by the stored notice once the command connection is ready again', async () => {
    const threadId = `thread_${randomBytes(4).toString('hex')}`;
    const seen: string[] = [];
    const sub = b.subscribe(threadId, { event: (e) => seen.push(`event ${e.seq}`), stored: (through) => seen.push(`stored ${through}`) });
    await sub.ready;
    const delta = (seq: number): MessageDeltaEvent => ({ kind: 'MESSAGE_DELTA', seq, threadId, runId: 'run_1', messageId: 'msg_1', delta: 'x' });

    a.publish(delta(1));
    await waitUntil(() => seen.includes('event 1'), 'the first event reaches the other instance');

    // The command connection goes down: the run's last event and its stored notice are dropped.
    clientsA.command.disconnect();
    await waitUntil(() => clientsA.command.status === 'end', 'the command connection is down');
    a.publish(delta(2));
    hw = 2;
    a.publishStored(threadId, 2);

    await clientsA.command.connect();
    await waitUntil(() => seen.includes('stored 2'), 'the stored notice, sent again, reaches the other instance');
    expect(seen).not.toContain('event 2');
    sub.unsubscribe();
  });
});
