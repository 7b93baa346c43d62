import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * Environment → one typed, validated config object. Every variable is optional; a bad value
 * fails start-up with a message that names the variable.
 */

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);
const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: int(4000).pipe(z.number().max(65535)),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z.string().min(1).default('./data/threadql.db'),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  LLM_API: z.enum(['responses', 'chat']).default('responses'),
  DEFAULT_MODEL: z.string().min(1).default('gpt-5.4-mini'),
  /** SDK retries before any output arrived (total attempts = retries + 1). */
  PROVIDER_MAX_RETRIES: int(2),
  /** Time allowed for the provider to start answering (the SDK's own timeout). */
  PROVIDER_TIMEOUT_MS: int(60_000, 1),
  /** Longest silence allowed between two stream chunks; the SDK timeout does not cover a stalled body. */
  STREAM_IDLE_TIMEOUT_MS: int(60_000, 1),
  /** Approximate token budget for a run's input (instructions + history) unless a truncation strategy sets one. */
  CONTEXT_MAX_INPUT_TOKENS: int(100_000, 1),
  /** Streamed text is written to the database at most this often, or when this many characters are pending. */
  FLUSH_INTERVAL_MS: int(100, 1),
  FLUSH_MAX_CHARS: int(4096, 1),
  /** Deltas of finished messages are kept for exact replay at least this long. */
  EVENT_RETENTION_HOURS: int(24, 1),
  SHUTDOWN_GRACE_MS: int(10_000),
  MAX_CONTENT_CHARS: int(100_000, 1),
  MAX_METADATA_KEYS: int(16, 0),
  MAX_METADATA_KEY_CHARS: int(64, 1),
  MAX_METADATA_VALUE_CHARS: int(512, 1),
  MAX_TITLE_CHARS: int(512, 1),
  MAX_INSTRUCTIONS_CHARS: int(32_000, 1),
  MAX_THREAD_MESSAGES: int(100, 1),
  /** How long a run waits in REQUIRES_ACTION for submitToolOutputs before it ends EXPIRED. */
  TOOL_OUTPUTS_TIMEOUT_MS: int(600_000, 1),
  /** Open subscriptions (SSE and WebSocket together) one owner may hold. */
  MAX_SUBSCRIPTIONS_PER_OWNER: int(1000, 1),
  MAX_BODY_BYTES: int(1024 * 1024, 1),
  /** Serve without API keys on a non-loopback HOST (logged as a warning on every start). */
  ALLOW_UNAUTHENTICATED: flag.default(false),
  /** Per owner, per window: requests, and runs started (each aliased mutation counts). */
  RATE_LIMIT_WINDOW_MS: int(60_000, 1),
  RATE_LIMIT_REQUESTS: int(600, 1),
  RATE_LIMIT_RUNS: int(60, 1),
  /** Comma-separated origins allowed by CORS; empty: same-origin only in production, any in development. */
  CORS_ORIGINS: z.string().optional(),
  /** GraphiQL and introspection; default on in development, off in production. */
  GRAPHIQL: flag.optional(),
  INTROSPECTION: flag.optional(),
  MAX_QUERY_DEPTH: int(12, 1),
  MAX_QUERY_ALIASES: int(30, 0),
  MAX_QUERY_TOKENS: int(4000, 1),
  MAX_QUERY_DIRECTIVES: int(20, 0),
  /** Roughly the number of fields an operation can resolve, connections counted by page size (query-cost.ts). */
  MAX_QUERY_COST: int(25_000, 1),
  /** This instance's name in the database's leases (several instances: each its own); default host-pid-random. */
  INSTANCE_ID: z.string().min(1).max(200).optional(),
  /** How long an executing run's lease lasts unrenewed: a dead instance's runs are taken over within about this (+ half of it). */
  LEASE_TTL_MS: int(15_000, 300),
  /** Live fan-out and shared counters across instances (redis://…); unset: one process, all in memory. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /** Every Redis key and channel starts with it: deployments (or test runs) sharing one Redis stay apart. */
  REDIS_PREFIX: z.string().min(1).max(64).default('threadql:'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface Limits {
  contentChars: number;
  metadataKeys: number;
  metadataKeyChars: number;
  metadataValueChars: number;
  titleChars: number;
  instructionsChars: number;
  threadMessages: number;
  bodyBytes: number;
  subscriptionsPerOwner: number;
}

export interface QueryLimits {
  depth: number;
  aliases: number;
  tokens: number;
  directives: number;
  cost: number;
}

export interface Config {
  production: boolean;
  allowUnauthenticated: boolean;
  rateLimit: { windowMs: number; requests: number; runs: number };
  /** null: no CORS headers for other origins in production; any origin in development. */
  corsOrigins: string[] | null;
  graphiql: boolean;
  introspection: boolean;
  queryLimits: QueryLimits;
  port: number;
  host: string;
  databaseUrl: string;
  llm: {
    api: 'responses' | 'chat';
    /** True when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: the offline model answers. */
    offline: boolean;
    apiKey: string | undefined;
    baseURL: string | undefined;
    defaultModel: string;
    maxRetries: number;
    timeoutMs: number;
    idleTimeoutMs: number;
    maxInputTokens: number;
  };
  flush: { intervalMs: number; maxChars: number };
  toolOutputsTimeoutMs: number;
  eventRetentionMs: number;
  shutdownGraceMs: number;
  /** Several instances: this one's id, and its leases' TTL (renewed every third of it). */
  instance: { id: string; leaseTtlMs: number };
  limits: Limits;
  /** null: no Redis (one instance). */
  redis: { url: string; prefix: string } | null;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as they do in most shells' .env handling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  return {
    production,
    allowUnauthenticated: e.ALLOW_UNAUTHENTICATED,
    rateLimit: { windowMs: e.RATE_LIMIT_WINDOW_MS, requests: e.RATE_LIMIT_REQUESTS, runs: e.RATE_LIMIT_RUNS },
    corsOrigins: e.CORS_ORIGINS ? e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean) : null,
    graphiql: e.GRAPHIQL ?? !production,
    introspection: e.INTROSPECTION ?? !production,
    queryLimits: {
      depth: e.MAX_QUERY_DEPTH,
      aliases: e.MAX_QUERY_ALIASES,
      tokens: e.MAX_QUERY_TOKENS,
      directives: e.MAX_QUERY_DIRECTIVES,
      cost: e.MAX_QUERY_COST,
    },
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    llm: {
      api: e.LLM_API,
      offline: !e.OPENAI_API_KEY && !e.OPENAI_BASE_URL,
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      defaultModel: e.DEFAULT_MODEL,
      maxRetries: e.PROVIDER_MAX_RETRIES,
      timeoutMs: e.PROVIDER_TIMEOUT_MS,
      idleTimeoutMs: e.STREAM_IDLE_TIMEOUT_MS,
      maxInputTokens: e.CONTEXT_MAX_INPUT_TOKENS,
    },
    flush: { intervalMs: e.FLUSH_INTERVAL_MS, maxChars: e.FLUSH_MAX_CHARS },
    toolOutputsTimeoutMs: e.TOOL_OUTPUTS_TIMEOUT_MS,
    eventRetentionMs: e.EVENT_RETENTION_HOURS * 3_600_000,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    instance: { id: e.INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`, leaseTtlMs: e.LEASE_TTL_MS },
    limits: {
      contentChars: e.MAX_CONTENT_CHARS,
      metadataKeys: e.MAX_METADATA_KEYS,
      metadataKeyChars: e.MAX_METADATA_KEY_CHARS,
      metadataValueChars: e.MAX_METADATA_VALUE_CHARS,
      titleChars: e.MAX_TITLE_CHARS,
      instructionsChars: e.MAX_INSTRUCTIONS_CHARS,
      threadMessages: e.MAX_THREAD_MESSAGES,
      bodyBytes: e.MAX_BODY_BYTES,
      subscriptionsPerOwner: e.MAX_SUBSCRIPTIONS_PER_OWNER,
    },
    redis: e.REDIS_URL ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX } : null,
    logLevel: e.LOG_LEVEL,
  };
}
