import type { WebSocket } from 'ws';
import type { Loaders } from './services/loaders.js';
import type { Services } from './services/index.js';

export type { Services };

/** What every resolver receives: the services (never a database), the caller, and per-request loaders. */
export interface Context {
  services: Services;
  /** Who is calling: the owner of the request's API key (LOCAL_OWNER in open mode). */
  owner: string;
  /** The API key's id; null in open mode. */
  keyId: string | null;
  /** Batched lookups of rows whose parent was already authorized (nested fields). */
  loaders: Loaders;
  /** The WebSocket of a graphql-ws operation (for backpressure); undefined over HTTP. */
  socket?: WebSocket;
}
