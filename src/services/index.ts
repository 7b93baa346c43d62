import { pino, type Logger } from 'pino';
import { AccessControl } from '../auth/access.js';
import type { Config } from '../config.js';
import { createLlmProvider } from '../llm/index.js';
import { createMetrics, type Metrics } from '../ops/metrics.js';
import type { LlmProvider } from '../llm/types.js';
import { createStore, type AppStore } from '../store/index.js';
import { AssistantService } from './assistants.js';
import { scheduleCompaction } from './events/compaction.js';
import { EventLog } from './events/event-log.js';
import { EventService } from './events/index.js';
import { InMemoryPubSub, type PubSub } from './events/pubsub.js';
import { createLoaders, type Loaders } from './loaders.js';
import { MessageService } from './messages.js';
import { RunEngine } from './runs/engine.js';
import { recoverRuns } from './runs/recovery.js';
import { RunRequestService } from './run-requests.js';
import { ThreadService } from './threads.js';

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
  const store = metrics.instrumentStore(await createStore(config.databaseUrl, { lock: true, logger }));
  const log = new EventLog(store, metrics.instrumentPubSub(overrides.pubsub ?? new InMemoryPubSub(), logger), {
    intervalMs: config.flush.intervalMs,
    maxChars: config.flush.maxChars,
    onFlushError: (err, threadIds) => logger.error({ err, threadIds }, 'could not store streamed text; retrying'),
  });
  const events = new EventService(log, store, config.limits.subscriptionsPerOwner);
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
  });

  const recovered = await recoverRuns(store, log);
  if (recovered.failed > 0) logger.warn({ runs: recovered.failed }, 'runs interrupted by a restart ended FAILED (SERVER_RESTARTED)');
  runs.resumeQueued(recovered.queuedThreads);
  // Runs waiting for tool outputs survive a restart: nothing executes while they wait.
  runs.resumeWaiting(await store.runs.withStatus('REQUIRES_ACTION'));
  const stopCompaction = scheduleCompaction(store, config.eventRetentionMs, logger);
  const access = new AccessControl(store.keys, config, logger);

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
    access,
    config,
    logger,
    metrics,
    close(graceMs = config.shutdownGraceMs) {
      closing ??= (async () => {
        stopCompaction();
        access.stop();
        await runs.shutdown(graceMs);
        await log.flushAll().catch((err: unknown) => logger.error({ err }, 'could not store the last streamed text at shutdown'));
        log.stop();
        // Runs ended above sent their terminal events; now every subscription completes.
        await events.endStreams(1000);
        await store.close();
      })();
      return closing;
    },
  };
}
