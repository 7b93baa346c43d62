import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { AccessControl } from '../auth/access.js';
import type { Config } from '../config.js';
import { createLlmProvider } from '../llm/index.js';
import { createMetrics, type Metrics } from '../ops/metrics.js';
import type { LlmProvider } from '../llm/types.js';
import { backendOf, createStore, type AppStore } from '../store/index.js';
import { AssistantService } from './assistants.js';
import { scheduleCompaction } from './events/compaction.js';
import { EventLog } from './events/event-log.js';
import { EventService } from './events/index.js';
import { InMemoryPubSub, type PubSub } from './events/pubsub.js';
import { RedisPubSub } from './events/redis-pubsub.js';
import { RedisSubscriptionCaps } from './events/subscription-caps.js';
import { connectRedis } from '../redis.js';
import { createLoaders, type Loaders } from './loaders.js';
import { MessageService } from './messages.js';
import { RunEngine } from './runs/engine.js';
import { RunCluster } from './runs/cluster.js';
import { reclaimOwnLeases, recoverRuns } from './runs/recovery.js';
import { RunRequestService } from './run-requests.js';
import { ThreadService } from './threads.js';

/** How long start-up waits for Redis before it goes on without it. */
const REDIS_START_WAIT_MS = 2000;

/** What surfaces (resolvers, routes) reach through their context: the services, never a database. */
export interface Services {
  assistants: AssistantService;
  threads: ThreadService;
  messages: MessageService;
  runs: RunEngine;
  /** Runs as the Assistants API (/v1) starts them. */
  runRequests: RunRequestService;
  events: EventService;
  access: AccessControl;
  config: Config;
  logger: Logger;
  /** This server's Prometheus registry and the counters services report to. */
  metrics: Metrics;
  /** Batched lookups for one request's nested fields. */
  loaders(): Loaders;
  /** Resolves when the store answers (readiness). */
  ping(): Promise<void>;
  /** Resolves when Redis answers (readiness); absent without REDIS_URL. */
  pingRedis?: () => Promise<void>;
}

export interface AppServices extends Services {
  /** The store itself: the server's start-up checks and tests reach it; surfaces never do. */
  store: AppStore;
  /** Ends runs (after the grace period), stores pending events and closes the store. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Opens the store (migrating it), recovers runs a previous process left behind, and wires the
 * services. Tests pass their own provider, pubsub or logger.
 */
export async function createServices(
  config: Config,
  overrides: { llm?: LlmProvider; pubsub?: PubSub; logger?: Logger; metrics?: Metrics } = {},
): Promise<AppServices> {
  const logger = overrides.logger ?? pino({ level: config.logLevel, redact: ['*.apiKey', '*.authorization'] });
  const metrics = overrides.metrics ?? createMetrics();
  // The server holds its SQLite file alone (the keys CLI may still open it); PostgreSQL is shared.
  // A frozen instance's open transaction is ended by PostgreSQL well before its lease would be taken over.
  const idleInTransactionMs = Math.max(2000, Math.round(config.instance.leaseTtlMs / 2));
  const store = metrics.instrumentStore(await createStore(config.databaseUrl, { lock: true, logger, idleInTransactionMs }));
  const redis = config.redis ? connectRedis(config.redis.url, config.redis.prefix, logger) : null;
  const pubsub = metrics.instrumentPubSub(overrides.pubsub ?? (redis ? new RedisPubSub(redis, logger, async (threadId) => (await store.threads.find(threadId))?.lastEventSeq ?? 0) : new InMemoryPubSub()), logger);
  // An instance starts without Redis if it must (its /ready says so), rather than not at all.
  if (redis && !(await Promise.race([pubsub.ready().then(() => true), delay(REDIS_START_WAIT_MS, false, { ref: false })]))) {
    logger.warn({ waitedMs: REDIS_START_WAIT_MS }, 'redis is not reachable; starting anyway: live events reach other instances once it is');
  }
  const log = new EventLog(store, pubsub, {
    intervalMs: config.flush.intervalMs,
    maxChars: config.flush.maxChars,
    onFlushError: (err, threadIds) => logger.error({ err, threadIds }, 'could not store streamed text; retrying'),
    instanceId: config.instance.id,
    leaseTtlMs: config.instance.leaseTtlMs,
  });
  const caps = redis ? new RedisSubscriptionCaps(redis, config.limits.subscriptionsPerOwner, logger) : undefined;
  const events = new EventService(log, store, config.limits.subscriptionsPerOwner, caps);
  const runs = new RunEngine({
    store,
    events: log,
    llm: overrides.llm ?? createLlmProvider(config.llm),
    logger,
    defaultModel: config.llm.defaultModel,
    offline: config.llm.offline,
    maxInputTokens: config.llm.maxInputTokens,
    toolOutputsTimeoutMs: config.toolOutputsTimeoutMs,
    maxOutputChars: config.limits.contentChars,
    leaseTtlMs: config.instance.leaseTtlMs,
    // createStore locks a SQLite file to this server (lock: true): no other process creates runs in it.
    singleWriter: backendOf(config.databaseUrl) === 'sqlite',
  });
  const cluster = new RunCluster(store, log, runs, logger, {
    leaseTtlMs: config.instance.leaseTtlMs,
    onThreadDeleted: (threadId) => void events.endStreams(1000, threadId),
  });

  // SQLite: this process owns the file, so whatever a previous one left is recovered now. PostgreSQL
  // is shared: other instances may be executing those runs; the reaper takes over expired leases only.
  if (store.kind === 'sqlite') {
    const recovered = await recoverRuns(store, log);
    if (recovered.failed > 0) logger.warn({ runs: recovered.failed }, 'runs interrupted by a restart ended FAILED (SERVER_RESTARTED)');
    runs.resumeQueued(recovered.queuedThreads);
  } else {
    const reclaimed = await reclaimOwnLeases(store, log);
    if (reclaimed > 0) logger.warn({ runs: reclaimed }, `runs this instance (${config.instance.id}) executed before it restarted ended FAILED (SERVER_RESTARTED)`);
  }
  // Runs waiting for tool outputs survive a restart: nothing executes while they wait.
  runs.resumeWaiting(await store.runs.withStatus('REQUIRES_ACTION'));
  cluster.start();
  const stopCompaction = scheduleCompaction(store, config.eventRetentionMs, logger);
  const access = new AccessControl(store.keys, config, logger, { redis, pubsub });

  let closing: Promise<void> | null = null;
  const assistants = new AssistantService(store, config.limits);
  const threads = new ThreadService(store, log, events, runs, config.limits);
  return {
    store,
    assistants,
    threads,
    runRequests: new RunRequestService(store, log, runs, assistants, threads, config.limits),
    messages: new MessageService(store, log, runs, config.limits),
    runs,
    events,
    loaders: () => createLoaders(store),
    ping: () => store.ping(),
    ...(redis ? { pingRedis: () => pubsub.ping() } : {}),
    access,
    config,
    logger,
    metrics,
    close(graceMs = config.shutdownGraceMs) {
      closing ??= (async () => {
        stopCompaction();
        access.stop();
        caps?.stop();
        cluster.stopTakingWork();
        await runs.shutdown(graceMs);
        cluster.stop();
        await log.flushAll().catch((err: unknown) => logger.error({ err }, 'could not store the last streamed text at shutdown'));
        log.stop();
        // Runs ended above sent their terminal events; now every subscription completes.
        await events.endStreams(1000);
        await store.close();
        await pubsub.close();
        await redis?.close();
      })();
      return closing;
    },
  };
}
