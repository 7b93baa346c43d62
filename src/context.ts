import type { Logger } from 'pino';
import type { AccessControl } from './auth/access.js';
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
  access: AccessControl;
  logger: Logger;
}

export interface Context extends Services {
  /** Who is calling: the owner of the request's API key (LOCAL_OWNER in open mode). */
  owner: string;
  /** The API key's id; null in open mode. */
  keyId: string | null;
}
