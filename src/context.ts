import type { Config } from './config.js';
import type { Db } from './db/client.js';
import type { EventLog } from './events/event-log.js';
import type { RunEngine } from './runs/engine.js';

/** What every resolver receives: the services, never module-level singletons. */
export interface Services {
  db: Db;
  runs: RunEngine;
  events: EventLog;
  config: Config;
}

export type Context = Services;
