import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * HTTP and WebSocket helpers that send an API key (or deliberately none), shared by the
 * security tests (auth, isolation, limits, production) and by the subscription helpers in
 * helpers.ts. Not a test file itself.
 */

/** The Authorization header for `key`; no header for a missing key. */
export const bearer = (key?: string | null): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: any;
}

export async function request(url: string, init: RequestInit): Promise<HttpAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, body };
}

/** POSTs any JSON body (an array for batching, say) with the key, if any. */
export const postJson = (url: string, key: string | null | undefined, body: unknown, headers: Record<string, string> = {}) =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...bearer(key), ...headers },
    body: JSON.stringify(body),
  });

/** POSTs a GraphQL operation with the key, if any. */
export const post = (url: string, key: string | null | undefined, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) =>
  postJson(url, key, { query, variables }, headers);

export interface WsAuth {
  /** Sent as `authorization: Bearer <key>` in connectionParams. */
  key?: string;
  /** connectionParams as given (instead of `key`). */
  params?: Record<string, unknown>;
  /** The upgrade request's Authorization header. */
  header?: string;
}

/** A graphql-ws client (lazy, no retries) authenticating as asked; `onClosed` sees the socket's close event. */
export function wsClient(url: string, auth: WsAuth = {}, onClosed?: (e: { code: number; reason: string }) => void): Client {
  const header = auth.header;
  // The upgrade request's Authorization header, when asked for.
  class WithHeader extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, header ? { headers: { authorization: header } } : {});
    }
  }
  return createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: header ? WithHeader : WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: auth.key ? bearer(auth.key) : auth.params,
    on: { closed: (e: any) => onClosed?.({ code: e?.code, reason: String(e?.reason ?? '') }) },
  });
}

/** Runs one subscription on a graphql-ws client to its end: results, and how it ended. */
export function wsRun(client: Client, query: string, variables?: Record<string, unknown>) {
  const results: any[] = [];
  let unsubscribe = () => {};
  const outcome = new Promise<{ completed: true } | { error: any }>((resolve) => {
    unsubscribe = client.subscribe({ query, variables }, { next: (r) => results.push(r), error: (error) => resolve({ error }), complete: () => resolve({ completed: true }) });
  });
  return { results, outcome, unsubscribe };
}
