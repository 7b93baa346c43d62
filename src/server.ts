import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { createServices, type AppServices } from './services/index.js';
import { describeDatabase } from './store/index.js';

export interface RunningServer {
  url: string;
  services: AppServices;
  http: Server;
  /** Refuses new requests (503), ends runs (after the grace period), closes sockets and the database, stops listening. */
  stop(graceMs?: number): Promise<void>;
}

/** Builds everything and listens; PORT=0 picks a free port (tests). */
export async function startServer(config: Config, overrides: Parameters<typeof createServices>[1] = {}): Promise<RunningServer> {
  const services = await createServices(config, overrides);
  try {
    await checkExposure(config, services);
  } catch (error) {
    await services.close(0);
    throw error;
  }
  const app = createApp(services);
  const http = createServer(app.yoga);
  const closeWebSockets = app.attachWebSockets(http);
  await new Promise<void>((resolve) => http.listen(config.port, config.host, resolve));
  const { port } = http.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let stopping: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}/graphql`,
    services,
    http,
    stop(graceMs) {
      stopping ??= (async () => {
        // The listener stays open through the grace period: new requests get 503 with
        // Retry-After (and /ready says why) rather than a refused connection.
        app.beginStop();
        // Runs end, subscribers receive their last events, then the connections close.
        await services.close(graceMs);
        await closeWebSockets();
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        http.closeAllConnections();
      })();
      return stopping;
    },
  };
}

/** IPv4 127/8, ::1 and localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Safe defaults: with no API keys the server is open, which is fine on loopback only. On any
 * other address it refuses to start unless ALLOW_UNAUTHENTICATED says otherwise (then it warns).
 */
async function checkExposure(config: Config, services: AppServices): Promise<void> {
  if (await services.access.keysRequired()) return;
  if (isLoopback(config.host)) {
    services.logger.info('No API keys yet: open mode, for local development (only this machine can connect).');
    return;
  }
  if (!config.allowUnauthenticated) {
    throw new Error(
      `Refusing to listen on HOST=${config.host} without API keys: anyone who can reach it could read every thread and spend your model budget. ` +
        'Create a key first (npm run keys -- create --owner <name>), or set ALLOW_UNAUTHENTICATED=true to serve openly anyway.',
    );
  }
  services.logger.warn(`ALLOW_UNAUTHENTICATED=true: serving on ${config.host} with no authentication. Anyone who can reach it can use it.`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const server = await startServer(config);
  const { logger } = server.services;
  if (config.llm.offline) {
    logger.info(
      'No OPENAI_API_KEY or OPENAI_BASE_URL set: the built-in offline model answers (set one of them to use a real model).',
    );
  }
  logger.info(`threadql listening on ${server.url} (GraphiQL in a browser; the chat page at ${server.url.replace(/\/graphql$/, '/')}), database ${describeDatabase(config.databaseUrl)}`);
  stopOnSignals(server, logger, config.shutdownGraceMs);
}

/**
 * The first SIGTERM or SIGINT starts the stop; later ones are logged and ignored. They do
 * come: a signal to the process group (`npm start`, Ctrl-C, a container runtime) reaches both
 * npm and the server, and npm forwards its own — with a one-shot handler, that second signal
 * would kill the server mid-grace and its runs would end SERVER_RESTARTED. (`npm start` execs
 * node itself: a shell in between would die of the signal, and npm would exit 143 at once.)
 */
function stopOnSignals(server: RunningServer, logger: RunningServer['services']['logger'], graceMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.info({ signal }, `already shutting down: active runs have up to ${graceMs} ms (SHUTDOWN_GRACE_MS); send SIGKILL to stop at once`);
      return;
    }
    stopping = true;
    logger.info({ signal, graceMs }, 'shutting down: finishing active runs');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
