import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { text } from 'node:stream/consumers';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';

/**
 * The bench's clients. The SSE client follows test/helpers.ts `subscribeSse` (eventsource-parser
 * reads the stream, `event: complete` ends it, `data:` carries the result) but runs on node:http rather
 * than fetch: the parent opens up to 5,000 streams while also serving the provider, and the
 * lighter client keeps the parent from being what limits a figure. Arrival times are taken
 * when a chunk arrives, before any parsing.
 */

/** Every request header a threadql client sends (the CSRF header is what browsers' apps send). */
export const JSON_HEADERS = { 'content-type': 'application/json', 'x-graphql-yoga-csrf': '1' };

/** One socket per open stream; no limit, no idle timeout between phases. */
export const sseAgent = new Agent({ keepAlive: true, maxSockets: Infinity });

export interface SseConnection {
  /** Resolves at the first bytes: the server has registered the subscription (yoga sends ":" at once). */
  ready: Promise<void>;
  /** Resolves when the server completes the stream or it is closed. */
  done: Promise<void>;
  close(): void;
}

export function openSse(url: string, body: string, onFrame: (data: string, time: number) => void, method = 'POST'): SseConnection {
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  let doneResolve!: () => void;
  const ready = new Promise<void>((resolve, reject) => ((readyResolve = resolve), (readyReject = reject)));
  const done = new Promise<void>((resolve) => (doneResolve = resolve));
  ready.catch(() => {});
  let closing = false;

  const req = request(url, { method, agent: sseAgent, headers: { ...JSON_HEADERS, accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    if (res.statusCode !== 200) {
      text(res).then((body) => (readyReject(new Error(`SSE ${res.statusCode}: ${body.slice(0, 300)}`)), doneResolve()), doneResolve);
      return;
    }
    // The chunk's arrival time, for every event the parser completes while feeding that chunk.
    let time = 0;
    const parser = createParser({
      onEvent: (event) => {
        if (event.event !== 'complete' && event.data) onFrame(event.data, time);
      },
    });
    res.on('data', (chunk: string) => {
      time = performance.now();
      readyResolve();
      parser.feed(chunk);
    });
    res.on('close', doneResolve);
  });
  req.on('error', (err) => {
    if (!closing) readyReject(err);
    doneResolve();
  });
  req.end(method === 'POST' ? body : undefined);
  return {
    ready,
    done,
    close() {
      closing = true;
      req.destroy();
    },
  };
}

/** A GraphQL operation over HTTP; throws on GraphQL errors. */
export async function gql<T = any>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ query, variables }) });
  const json = (await res.json()) as { data?: T; errors?: unknown[] };
  if (json.errors || !json.data) throw new Error(`GraphQL error (HTTP ${res.status}): ${JSON.stringify(json.errors).slice(0, 500)}`);
  return json.data;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface WsSubscription {
  /** Resolves once the server acknowledged the connection and the subscribe frame is sent. */
  ready: Promise<void>;
  close(): void;
}

/**
 * One WebSocket (graphql-transport-ws, as graphql-ws speaks it) carrying one subscription, on
 * `ws` directly: a graphql-ws client per socket would weigh on the bench process as the SSE
 * client above avoids doing. The server sends nothing when a subscription is registered, so
 * `ready` only means it was asked; figure 5 waits on the server's own gauge for the rest.
 */
export function openWsSubscription(httpUrl: string, query: string, variables: Record<string, unknown>): WsSubscription {
  const socket = new WebSocket(httpUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const ready = new Promise<void>((resolve, reject) => {
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    socket.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string };
      if (message.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        resolve();
      } else if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
    });
    socket.on('error', reject);
    socket.on('close', (code, reason) => reject(new Error(`WebSocket closed (${code}) before it was acknowledged: ${String(reason)}`)));
  });
  ready.catch(() => {});
  return { ready, close: () => socket.terminate() };
}
