import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe } from 'vitest';
import { startFakeProvider, type FakeProvider } from '../fake-provider.js';
import { TEST_API_KEY, NO_RATE_LIMIT } from '../helpers.js';
import { spawnServer, type ChildServer } from '../process-helpers.js';

/**
 * Several real threadql processes (the entry point, as a deployment starts it) on one fresh
 * PostgreSQL database and one Redis key prefix, sharing one fake provider in the test process.
 * Cluster tests need TEST_POSTGRES_URL and TEST_REDIS_URL; without them they are skipped,
 * saying so.
 */

export const POSTGRES_URL = process.env.TEST_POSTGRES_URL;
export const REDIS_URL = process.env.TEST_REDIS_URL;
export const clusterAvailable = Boolean(POSTGRES_URL && REDIS_URL);

/** `describe`, or a skipped one that says which variable is missing. */
export function describeCluster(name: string, body: () => void): void {
  if (!clusterAvailable) {
    const missing = [!POSTGRES_URL && 'TEST_POSTGRES_URL', !REDIS_URL && 'TEST_REDIS_URL'].filter(Boolean).join(' and ');
    console.warn(`[cluster] skipped "${name}": set ${missing} (e.g. postgres://postgres@127.0.0.1:5432/postgres, redis://127.0.0.1:6379)`);
    describe.skip(name, body);
    return;
  }
  describe(name, body);
}

/** Short leases so that takeovers happen within a test's patience (production: 15 s). */
export const TEST_LEASE_TTL_MS = 2000;

const run = promisify(execFile);

/** One SQL statement through psql (no driver needed in the test process); rows as tab-separated text. */
export async function psql(url: string, statement: string): Promise<string[][]> {
  const { stdout } = await run('psql', [url, '-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', statement]);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

function withDatabase(url: string, database: string, applicationName?: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (applicationName) u.searchParams.set('application_name', applicationName);
  return u.toString();
}

/**
 * A TCP proxy in front of PostgreSQL for one instance: cut() drops its connections and refuses
 * new ones (the database is unreachable for that instance only), restore() lets them through again.
 */
export class PgProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: URL): Promise<PgProxy> {
    let proxy!: PgProxy;
    const server = createServer((client) => {
      if (proxy.cutOff) return client.destroy();
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = new PgProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  cut(): void {
    this.cutOff = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Instance extends ChildServer {
  id: string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  proxy: PgProxy;
  /** kill -9: no shutdown code runs. */
  kill(): Promise<void>;
  /** SIGTERM: the graceful stop; resolves when the process has exited. */
  stop(): Promise<{ code: number | null; signal: string | null }>;
  /** POST a GraphQL operation to this instance; returns the parsed JSON body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string; extensions?: Record<string, any> }[] }>;
}

export interface Cluster {
  instances: Instance[];
  provider: FakeProvider;
  /** The cluster's database (for sampling it with `sql`). */
  databaseUrl: string;
  redisPrefix: string;
  sql(statement: string): Promise<string[][]>;
  /** Starts one more instance (or the same id again after a kill) on the cluster's database. */
  start(id: string, env?: Record<string, string>): Promise<Instance>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  instances?: number;
  /** Environment for every instance. */
  env?: Record<string, string>;
  /** The fake provider to share; default a new one (closed with the cluster). */
  provider?: FakeProvider;
}

/** A fresh database, N instances (ids A, B, C…) each behind its own PostgreSQL proxy, one fake provider. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  if (!POSTGRES_URL || !REDIS_URL) throw new Error('startCluster needs TEST_POSTGRES_URL and TEST_REDIS_URL');
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `tql_${tag}`;
  await psql(POSTGRES_URL, `create database ${database}`);
  const databaseUrl = withDatabase(POSTGRES_URL, database);
  const redisPrefix = `tql:${tag}:`;
  const provider = options.provider ?? (await startFakeProvider());
  const instances: Instance[] = [];

  const start = async (id: string, env: Record<string, string> = {}): Promise<Instance> => {
    const proxy = await PgProxy.start(new URL(POSTGRES_URL));
    const viaProxy = new URL(withDatabase(POSTGRES_URL, database, `threadql-${id}`));
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const child = await spawnServer({
      env: {
        DATABASE_URL: viaProxy.toString(),
        REDIS_URL: REDIS_URL!,
        REDIS_PREFIX: redisPrefix,
        INSTANCE_ID: id,
        LEASE_TTL_MS: String(TEST_LEASE_TTL_MS),
        FLUSH_INTERVAL_MS: '20',
        SHUTDOWN_GRACE_MS: '2000',
        OPENAI_BASE_URL: provider.url,
        OPENAI_API_KEY: TEST_API_KEY,
        ...NO_RATE_LIMIT,
        ...options.env,
        ...env,
      },
    }).catch(async (error: unknown) => {
      await proxy.close();
      throw error;
    });
    const instance: Instance = {
      ...child,
      id,
      proxy,
      async kill() {
        if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGKILL');
        await child.exited;
      },
      async stop() {
        if (child.child.exitCode === null && child.child.signalCode === null) child.child.kill('SIGTERM');
        return child.exited;
      },
      async gql(query, variables) {
        const res = await fetch(child.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
        return (await res.json()) as any;
      },
    };
    const index = instances.findIndex((i) => i.id === id);
    if (index >= 0) instances[index] = instance;
    else instances.push(instance);
    return instance;
  };

  try {
    // One at a time: each start-up migrates (under an advisory lock) before it listens.
    for (let i = 0; i < (options.instances ?? 2); i++) await start(String.fromCharCode(65 + i));
  } catch (error) {
    await closeAll();
    throw error;
  }

  async function closeAll(): Promise<void> {
    for (const i of instances) {
      i.child.kill('SIGCONT');
      i.child.kill('SIGKILL');
    }
    await Promise.all(instances.map(async (i) => { await i.exited; await i.proxy.close(); }));
    if (!options.provider) await provider.close();
    await psql(POSTGRES_URL!, `drop database if exists ${database} with (force)`);
    await run('redis-cli', ['-u', REDIS_URL!, '--scan', '--pattern', `${redisPrefix}*`]).then(async ({ stdout }) => {
      const keys = stdout.split('\n').filter(Boolean);
      if (keys.length > 0) await run('redis-cli', ['-u', REDIS_URL!, 'del', ...keys]);
    });
  }

  return {
    instances,
    provider,
    databaseUrl,
    redisPrefix,
    sql: (statement) => psql(databaseUrl, statement),
    start,
    close: closeAll,
  };
}

/** POSTs to an instance and throws on GraphQL errors (the data of a call that must succeed). */
export async function ok<T = any>(instance: Instance, query: string, variables?: Record<string, unknown>): Promise<T> {
  const body = await instance.gql<T>(query, variables);
  if (body.errors) throw new Error(`${instance.id}: ${JSON.stringify(body.errors)}`);
  return body.data!;
}

/** Inside a describe: a failed test prints the end of every instance's log (what the processes said). */
export function printLogsOnFailure(cluster: () => Cluster | undefined): void {
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const i of cluster()?.instances ?? []) console.log(`---- instance ${i.id} (last lines) ----\n${i.output().split('\n').slice(-40).join('\n')}`);
  });
}
