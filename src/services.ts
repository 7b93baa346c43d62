import { pino, type Logger } from 'pino';
import type { Config } from './config.js';
import type { Services } from './context.js';
import { closeDb, createDb } from './db/client.js';
import { lockDatabase } from './db/instance-lock.js';
import { AccessControl } from './auth/access.js';
import { scheduleCompaction } from './events/compaction.js';
import { EventLog } from './events/event-log.js';
import { InMemoryPubSub, type PubSub } from './events/pubsub.js';
import { createLlmProvider } from './llm/index.js';
import type { LlmProvider } from './llm/types.js';
import { RunEngine } from './runs/engine.js';
import { recoverRuns } from './runs/recovery.js';

export interface AppServices extends Services {
  /** Ends runs (after the grace period), stores pending events and closes the database. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Opens the database (migrating it), recovers runs a previous process left behind, and wires
 * the event log, the provider and the run engine. Tests pass their own provider or pubsub.
 */
export function createServices(
  config: Config,
  overrides: { llm?: LlmProvider; pubsub?: PubSub; logger?: Logger } = {},
): AppServices {
  const logger = overrides.logger ?? pino({ level: config.logLevel, redact: ['*.apiKey', '*.authorization'] });
  // Before opening: migrations and the recovery below must never touch another live instance's database.
  const lock = lockDatabase(config.databaseUrl);
  let db: ReturnType<typeof createDb>;
  try {
    db = createDb(config.databaseUrl);
  } catch (error) {
    lock.release();
    throw error;
  }
  const events = new EventLog(db, overrides.pubsub ?? new InMemoryPubSub(), {
    intervalMs: config.flush.intervalMs,
    maxChars: config.flush.maxChars,
    onFlushError: (err) => logger.error({ err }, 'could not store streamed text; retrying at the next flush'),
  });
  const runs = new RunEngine({
    db,
    events,
    llm: overrides.llm ?? createLlmProvider(config.llm),
    logger,
    defaultModel: config.llm.defaultModel,
    offline: config.llm.offline,
    maxInputTokens: config.llm.maxInputTokens,
  });

  const recovered = recoverRuns(db, events);
  if (recovered.failed > 0) logger.warn({ runs: recovered.failed }, 'runs interrupted by a restart ended FAILED (SERVER_RESTARTED)');
  runs.resumeQueued(recovered.queuedThreads);
  const stopCompaction = scheduleCompaction(db, config.eventRetentionMs);
  const access = new AccessControl(db, config);

  let closed = false;
  return {
    db,
    events,
    runs,
    config,
    access,
    logger,
    async close(graceMs = config.shutdownGraceMs) {
      if (closed) return;
      closed = true;
      stopCompaction();
      access.stop();
      await runs.shutdown(graceMs);
      closeDb(db);
      lock.release();
    },
  };
}
