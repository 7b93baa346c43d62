import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Client } from 'graphql-ws';
import type { Logger } from 'pino';
import { expect } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { bearer, wsClient, type WsAuth } from './auth-helpers.js';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from './fake-provider.js';
import { RUN, SEND, THREAD } from './operations.js';
import { createTestDatabase, dropTestDatabases, onPostgres } from './test-database.js';

export { closeDatabaseUnder, crashImageOf, onPostgres, queryDatabase, rawSql } from './test-database.js';

export const TEST_API_KEY = 'sk-test-0123456789abcdef';

/** For servers that are not the subject of rate limiting: lift the per-owner limits. */
export const NO_RATE_LIMIT = { RATE_LIMIT_REQUESTS: '1000000', RATE_LIMIT_RUNS: '1000000' };

export interface TestServer extends RunningServer {
  /** POST a GraphQL operation; returns the parsed JSON body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  /** The SQLite file (or PostgreSQL database URL) this server uses (reuse it to start a "restarted" server). */
  databaseFile: string;
}

export interface GqlResult<T> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, any>; path?: string[] }[];
}

/** The code of the first GraphQL error, if any. */
export const codeOf = (res: GqlResult<unknown>) => res.errors?.[0]?.extensions?.code as string | undefined;

export interface TestServerOptions {
  /** The fake provider to talk to; omit for the offline model. */
  provider?: FakeProvider;
  llmApi?: 'responses' | 'chat';
  /** Reuse a database file (restart tests). */
  databaseFile?: string;
  env?: Record<string, string>;
  /** The server's logger; default: none (LOG_LEVEL silent). */
  logger?: Logger;
}

const tempDirs: string[] = [];

/** A fresh database file in a temporary folder (one per call); on PostgreSQL, a fresh database's URL. */
export function tempDatabaseFile(): string {
  if (onPostgres) return createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'threadql-test-'));
  tempDirs.push(dir);
  return join(dir, 'test.db');
}

export function removeTempDirs(): void {
  dropTestDatabases();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A real server on a free port, on its own database (SQLite file or PostgreSQL database), migrated with the committed migrations. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const databaseFile = options.databaseFile ?? tempDatabaseFile();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseFile,
    LOG_LEVEL: 'silent',
    FLUSH_INTERVAL_MS: '20',
    SHUTDOWN_GRACE_MS: '0',
    // One name for every test server: a server restarted on the same database is the same instance (it reclaims its runs at once).
    INSTANCE_ID: 'test-server',
    LLM_API: options.llmApi ?? 'responses',
    ...(options.provider ? { OPENAI_BASE_URL: options.provider.url, OPENAI_API_KEY: TEST_API_KEY } : {}),
    ...options.env,
  });
  const server = await startServer(config, options.logger ? { logger: options.logger } : {});
  return {
    ...server,
    databaseFile,
    async gql(query, variables) {
      const res = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as GqlResult<any>;
    },
  };
}

// ---- Waiting -------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise to release by hand (a pause point for the fake provider, say). */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Polls until `check` returns something truthy, and returns it (only for state that has no
 * event to wait on, e.g. listener counts or another process's database).
 */
export async function waitUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(10);
  }
}

/** Rejects when `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- Subscriptions ---------------------------------------------------------------------------

/** A subscription's collected results and a way to wait for them. */
export interface Subscription {
  results: GqlResult<any>[];
  /** Resolves when the server completes the subscription. */
  completed: Promise<unknown>;
  /** Resolves once `count` results have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

function collector(): { sub: Omit<Subscription, 'close' | 'completed'>; push(r: GqlResult<any>): void } {
  const results: GqlResult<any>[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  return {
    sub: {
      results,
      waitFor(count, timeoutMs = 5000) {
        if (results.length >= count) return Promise.resolve();
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} results (have ${results.length})`)), timeoutMs);
          waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
        });
      },
    },
    push(r) {
      results.push(r);
      for (const w of [...waiters]) if (results.length >= w.count) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
    },
  };
}

export interface SseSubscription extends Subscription {
  /** The HTTP status and content type; the body too when the answer is not a stream. */
  response: Promise<{ status: number; contentType: string; body?: any }>;
  /** Resolves when the stream ends: its complete event, the end of the body, or an answer that is no stream at all. */
  completed: Promise<{ how: 'complete' | 'eof' | 'not-a-stream' }>;
}

/** POSTs an operation asking for Server-Sent Events, with an API key if given. */
function fetchSse(url: string, query: string, variables: Record<string, unknown> | undefined, key: string | null | undefined, signal: AbortSignal) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer(key) },
    body: JSON.stringify({ query, variables }),
    signal,
  });
}

/**
 * The events of a whole SSE body, by a real parser (eventsource-parser): multi-line `data:`,
 * comments and keep-alives, CRLF line ends and an unterminated last event all as the spec says.
 */
export function sseEvents(body: string): EventSourceMessage[] {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  parser.feed(body);
  parser.reset({ consume: true });
  return events;
}

/** Subscribes over Server-Sent Events (yoga's default transport), with an API key if given. */
export function subscribeSse(url: string, query: string, variables?: Record<string, unknown>, key?: string | null): SseSubscription {
  const controller = new AbortController();
  const { sub, push } = collector();
  let resolveResponse!: (r: { status: number; contentType: string; body?: any }) => void;
  const response = new Promise<{ status: number; contentType: string; body?: any }>((r) => (resolveResponse = r));
  const completed = (async (): Promise<{ how: 'complete' | 'eof' | 'not-a-stream' }> => {
    const res = await fetchSse(url, query, variables, key, controller.signal);
    const contentType = res.headers.get('content-type') ?? '';
    if (!contentType.includes('text/event-stream')) {
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {}
      resolveResponse({ status: res.status, contentType, body });
      return { how: 'not-a-stream' };
    }
    resolveResponse({ status: res.status, contentType });
    const decoder = new TextDecoder();
    let complete = false;
    const parser = createParser({
      onEvent: ({ event, data }) => {
        if (complete) return;
        if (event === 'complete') complete = true;
        else if (event === 'next' && data) push(JSON.parse(data));
      },
    });
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (complete) return { how: 'complete' };
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
    return { how: 'eof' };
  })();
  completed.catch(() => {});
  return { ...sub, response, completed, close: () => controller.abort() };
}

export interface SseExchange {
  status: number;
  /** The media type, without parameters. */
  contentType: string;
  /** Every event of the stream, in order (`data` parsed). */
  events: { event: string; data: any }[];
  /** The payloads of the `next` events. */
  results: any[];
}

/**
 * A whole SSE exchange, for a subscription that ends by itself (an error does). Rejects with
 * an error named `TimeoutError` when the stream has not ended within `timeoutMs`.
 */
export async function sseExchange(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  key?: string | null,
  timeoutMs = 5000,
): Promise<SseExchange> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetchSse(url, query, variables, key, controller.signal);
    const contentType = res.headers.get('content-type') ?? '';
    const events = sseEvents(await res.text())
      .filter((e): e is EventSourceMessage & { event: string } => !!e.event)
      .map((e) => ({ event: e.event, data: e.data ? JSON.parse(e.data) : undefined }));
    const results = events.filter((e) => e.event === 'next').map((e) => e.data);
    return { status: res.status, contentType: contentType.split(';')[0]!, events, results };
  } catch (err) {
    if (controller.signal.aborted) throw Object.assign(new Error(`the SSE stream did not end within ${timeoutMs} ms`), { name: 'TimeoutError' });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export interface WsSubscription extends Subscription {
  client: Client;
  /** The socket's close event (code, reason), whenever it closes. */
  closed: Promise<{ code: number; reason: string }>;
  /** How the subscription ended: completed, or errored with what the sink received. */
  outcome: Promise<{ completed: true } | { error: unknown }>;
}

/** Subscribes over WebSocket with graphql-transport-ws (graphql-ws), authenticating as `auth` says. */
export function subscribeWs(url: string, query: string, variables?: Record<string, unknown>, auth: WsAuth = {}): WsSubscription {
  let resolveClosed!: (e: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  const client = wsClient(url, auth, resolveClosed);
  const { sub, push } = collector();
  let unsubscribe = () => {};
  const completed = new Promise<void>((resolve, reject) => {
    unsubscribe = client.subscribe({ query, variables }, { next: (r) => push(r as GqlResult<any>), error: reject, complete: resolve });
  });
  completed.catch(() => {});
  const outcome = completed.then(
    () => ({ completed: true as const }),
    (error: unknown) => ({ error }),
  );
  return {
    ...sub,
    client,
    closed,
    outcome,
    completed,
    close: () => {
      unsubscribe();
      void client.dispose();
    },
  };
}

/** Sends an operation that uses @defer and returns the multipart/mixed parts, in order. */
export async function postMultipart(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  key?: string,
): Promise<{ status: number; contentType: string; parts: any[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'multipart/mixed', ...bearer(key) },
    body: JSON.stringify({ query, variables }),
  });
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1] ?? '-';
  const parts = text
    .split(`--${boundary}`)
    .map((p) => p.trim())
    .filter((p) => p && p !== '--')
    .map((p) => p.slice(p.indexOf('{')))
    .filter((p) => p.startsWith('{'))
    .map((p) => JSON.parse(p));
  return { status: res.status, contentType, parts };
}

// ---- Events and provider requests ------------------------------------------------------------

export interface EventData {
  __typename: 'RunStatusEvent' | 'MessageEvent' | 'MessageDeltaEvent';
  seq: number;
  threadId: string;
  run?: { id: string; status: string; error: { code: string; message: string } | null };
  message?: { id: string; role: string; content: string; status: string };
  runId?: string;
  messageId?: string;
  delta?: string;
}

/** Applies events as a client would: a MessageEvent replaces content, a delta appends. */
export function applyEvents(events: EventData[], start: Map<string, string> = new Map()): Map<string, string> {
  const contents = new Map(start);
  for (const e of events) {
    if (e.__typename === 'MessageEvent') contents.set(e.message!.id, e.message!.content);
    else if (e.__typename === 'MessageDeltaEvent') contents.set(e.messageId!, (contents.get(e.messageId!) ?? '') + e.delta);
  }
  return contents;
}

export const eventsOf = (sub: Subscription, field: string): EventData[] => sub.results.map((r) => r.data?.[field]);

/** The conversation a provider request carried, as { role, content } (both wire formats). */
export function conversationOf(req: RecordedRequest): { role: string; content: string }[] {
  const items = (req.body.input ?? req.body.messages) as { role: string; content: string }[];
  return items.map((m) => ({ role: m.role, content: m.content }));
}

// ---- Threads and runs ------------------------------------------------------------------------

/** Runs an operation that must succeed; returns its data. */
export async function ok<T = any>(server: TestServer, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await server.gql<T>(query, variables);
  expect(res.errors, `GraphQL errors: ${JSON.stringify(res.errors)}`).toBeUndefined();
  return res.data!;
}

/** Creates an assistant; returns its id. */
export async function createAssistant(server: TestServer, input: Record<string, unknown>): Promise<string> {
  const data = await ok(server, `mutation ($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { id } } }`, { input });
  return data.createAssistant.assistant.id;
}

/** A thread without messages (so no run, no event): subscribe to it before anything happens. */
export async function newThread(server: TestServer): Promise<string> {
  const data = await ok(server, `mutation { createThread(input: {}) { thread { id } run { id } } }`);
  expect(data.createThread.run).toBeNull();
  return data.createThread.thread.id;
}

/** A thread whose first run starts at once; returns without waiting for it. */
export async function startThread(server: TestServer, content = 'Tell me a long story.'): Promise<{ threadId: string; runId: string }> {
  const data = await ok(
    server,
    `mutation($content: String!) { createThread(input: { messages: [{ role: USER, content: $content }] }) { thread { id } run { id } } }`,
    { content },
  );
  return { threadId: data.createThread.thread.id, runId: data.createThread.run.id };
}

export interface SentMessage {
  message: { id: string; content: string; status: string };
  run: { id: string; status: string };
}

/** sendMessage (the SEND operation), which must succeed; does not wait for the reply. */
export async function sendMessage(server: TestServer, input: Record<string, unknown>): Promise<SentMessage> {
  return (await ok(server, SEND, { input })).sendMessage;
}

/** The run as the RUN query shows it. */
export async function runOf(server: TestServer, runId: string): Promise<any> {
  return (await ok(server, RUN, { id: runId })).run;
}

/** Waits (in the server process) until the run has ended, then reads it over GraphQL. */
export async function endedRun(server: TestServer, runId: string): Promise<any> {
  await server.services.runs.waitForEnd(runId);
  return runOf(server, runId);
}

export interface MessageView {
  id: string;
  role: string;
  content: string;
  status: string;
  run: { id: string } | null;
}

export interface ThreadView {
  lastEventSeq: number;
  activeRun: { id: string; status: string } | null;
  messages: MessageView[];
  runs: { id: string; status: string }[];
}

/** The thread as the THREAD query shows it, its connections flattened to their nodes. */
export async function threadOf(server: TestServer, threadId: string): Promise<ThreadView> {
  const { thread } = await ok(server, THREAD, { id: threadId });
  return { ...thread, messages: thread.messages.edges.map((e: any) => e.node), runs: thread.runs.edges.map((e: any) => e.node) };
}

/** A fake provider and a server that talks to it, for a file's or a describe's tests. */
export async function startWithFakeProvider(
  options: Omit<TestServerOptions, 'provider'> = {},
): Promise<{ fake: FakeProvider; server: TestServer }> {
  const fake = await startFakeProvider();
  return { fake, server: await startTestServer({ ...options, provider: fake }) };
}

/** Stops what startWithFakeProvider started and removes the temporary databases. */
export async function stopWithFakeProvider(server: TestServer, fake: FakeProvider): Promise<void> {
  await server.stop();
  await fake.close();
  removeTempDirs();
}
