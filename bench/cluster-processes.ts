import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { projectRoot } from './children.js';
import type { Bench } from './context.js';

/**
 * Several threadql processes for the cluster figures (10 and 11): one fresh PostgreSQL database
 * and one Redis key prefix per figure, removed afterwards, and the environment of each instance.
 * Figure 4's PostgreSQL row takes its fresh database from here too (createBenchDatabase).
 */

const run = promisify(execFile);

export interface Server {
  url: string;
  child: ChildProcess;
}

export async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    let listening = false;
    // Read until the start-up line, then keep draining (unread pipes would block the server).
    const onData = (chunk: Buffer) => {
      if (listening) return;
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+\/graphql)/.exec(output);
      if (match) (listening = true), resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`threadql exited (${code}) before listening:\n${output.slice(-2000)}`)));
    setTimeout(() => reject(new Error(`threadql did not listen within 30 s:\n${output.slice(-2000)}`)), 30_000).unref();
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return { url, child };
}

export async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  await once(server.child, 'exit');
  clearTimeout(timer);
}

export interface ClusterSetup {
  /** The environment of instance `id` (production mode, limits lifted, the bench's provider). */
  env(id: string): Record<string, string>;
  /** Drops the database and the Redis keys. */
  cleanup(): Promise<void>;
}

/** The PostgreSQL server the bench creates its databases on (an admin connection). */
export const postgresAdminUrl = () => process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  /** Drops it (the connections still open on it included). */
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database `tql_bench_<name>_<pid>_<random>`; throws when PostgreSQL is unreachable. */
export async function createBenchDatabase(name: string, tag = `${process.pid}_${randomBytes(3).toString('hex')}`): Promise<BenchDatabase> {
  const adminUrl = postgresAdminUrl();
  const database = `tql_bench_${name}_${tag}`;
  await run('psql', [adminUrl, '-X', '-q', '-c', `create database ${database}`]);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    async drop() {
      await run('psql', [adminUrl, '-X', '-q', '-c', `drop database if exists ${database} with (force)`]).catch(() => {});
    },
  };
}

export async function setUpCluster(bench: Bench, name: string, extraEnv: Record<string, string> = {}): Promise<ClusterSetup> {
  const redisUrl = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const prefix = `tqlbench:${tag}:`;
  const database = await createBenchDatabase(name, tag);
  return {
    env: (id) => ({
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'production',
      // info: the start-up line says where it listens (startServer waits for it); request lines are drained.
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      INSTANCE_ID: id,
      OPENAI_BASE_URL: bench.provider.url,
      OPENAI_API_KEY: 'sk-bench-0123456789',
      DEFAULT_MODEL: 'bench-model',
      RATE_LIMIT_REQUESTS: '1000000000',
      RATE_LIMIT_RUNS: '1000000000',
      ...extraEnv,
    }),
    async cleanup() {
      await database.drop();
      await run('redis-cli', ['-u', redisUrl, '--scan', '--pattern', `${prefix}*`]).then(async ({ stdout }) => {
        const keys = stdout.split('\n').filter(Boolean);
        if (keys.length > 0) await run('redis-cli', ['-u', redisUrl, 'del', ...keys]);
      });
    },
  };
}
