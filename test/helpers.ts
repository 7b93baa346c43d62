import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import type { FakeProvider } from './fake-provider.js';

export const TEST_API_KEY = 'sk-test-0123456789abcdef';

export interface TestServer extends RunningServer {
  /** POST a GraphQL operation; returns the parsed JSON body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>>;
  /** The SQLite file this server uses (reuse it to start a "restarted" server). */
  databaseFile: string;
}

export interface GqlResult<T> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, any>; path?: string[] }[];
}

export interface TestServerOptions {
  /** The fake provider to talk to; omit for the offline model. */
  provider?: FakeProvider;
  llmApi?: 'responses' | 'chat';
  /** Reuse a database file (restart tests). */
  databaseFile?: string;
  env?: Record<string, string>;
}

const tempDirs: string[] = [];

/** A fresh database file in a temporary folder (one per call). */
export function tempDatabaseFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'threadql-test-'));
  tempDirs.push(dir);
  return join(dir, 'test.db');
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A real server on a free port, on its own SQLite file, migrated with the committed migrations. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const databaseFile = options.databaseFile ?? tempDatabaseFile();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseFile,
    LOG_LEVEL: 'silent',
    FLUSH_INTERVAL_MS: '20',
    SHUTDOWN_GRACE_MS: '0',
    LLM_API: options.llmApi ?? 'responses',
    ...(options.provider ? { OPENAI_BASE_URL: options.provider.url, OPENAI_API_KEY: TEST_API_KEY } : {}),
    ...options.env,
  });
  const server = await startServer(config);
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

/** A subscription's collected results and a way to wait for them. */
export interface Subscription {
  results: GqlResult<any>[];
  /** Resolves when the server completes the subscription. */
  completed: Promise<void>;
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

/** Subscribes over Server-Sent Events (yoga's default transport). */
export function subscribeSse(url: string, query: string, variables?: Record<string, unknown>): Subscription {
  const controller = new AbortController();
  const { sub, push } = collector();
  const completed = (async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query, variables }),
      signal: controller.signal,
    });
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === 'complete') return;
          if (event === 'next' && data) push(JSON.parse(data));
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
  })();
  completed.catch(() => {});
  return { ...sub, completed, close: () => controller.abort() };
}

/** Subscribes over WebSocket with graphql-transport-ws (graphql-ws). */
export function subscribeWs(url: string, query: string, variables?: Record<string, unknown>): Subscription & { client: Client } {
  const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const { sub, push } = collector();
  let unsubscribe = () => {};
  const completed = new Promise<void>((resolve, reject) => {
    unsubscribe = client.subscribe({ query, variables }, { next: (r) => push(r as GqlResult<any>), error: reject, complete: resolve });
  });
  completed.catch(() => {});
  return {
    ...sub,
    client,
    completed,
    close: () => {
      unsubscribe();
      void client.dispose();
    },
  };
}

/** Sends an operation that uses @defer and returns the multipart/mixed parts, in order. */
export async function postMultipart(url: string, query: string, variables?: Record<string, unknown>): Promise<{ contentType: string; parts: any[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'multipart/mixed' },
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
  return { contentType, parts };
}

/** The selection every streaming test uses for ThreadEvent. */
export const EVENT_FIELDS = /* GraphQL */ `
  __typename seq threadId
  ... on RunStatusEvent { run { id status error { code message } } }
  ... on MessageEvent { message { id role content status } }
  ... on MessageDeltaEvent { runId messageId delta }
`;

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

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
