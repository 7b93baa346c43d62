import { createClient } from 'graphql-ws';

/**
 * The page's whole transport: queries and mutations over HTTP POST, subscriptions over
 * WebSocket (graphql-ws), both on the page's own origin and both carrying the API key when
 * there is one. The key lives in this browser only (localStorage) and goes nowhere else.
 */

export interface GraphQLErrorItem {
  message: string;
  extensions?: { code?: string; requestId?: string; [key: string]: unknown };
}

export class ApiError extends Error {
  constructor(readonly errors: GraphQLErrorItem[]) {
    const first = errors[0];
    const code = first?.extensions?.code;
    const requestId = first?.extensions?.requestId;
    super([first?.message ?? 'Request failed.', code && `(${code})`, requestId && `request ${requestId}`].filter(Boolean).join(' '));
  }
}

export interface Api {
  request<T = any>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** Calls `onData` with each result's data; returns the unsubscribe function. */
  subscribe(query: string, variables: Record<string, unknown>, onData: (data: any) => void, onError: (error: Error) => void): () => void;
  dispose(): void;
}

export function createApi(apiKey: string): Api {
  const url = new URL('/graphql', location.href);
  const authorization: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const ws = createClient({
    url: url.href.replace(/^http/, 'ws'),
    connectionParams: authorization,
    // A dropped socket reconnects and resubscribes; the page skips events it already has (by seq).
    retryAttempts: 10,
  });
  return {
    async request(query, variables) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...authorization },
        body: JSON.stringify({ query, variables }),
      });
      const body = await res.json().catch(() => ({ errors: [{ message: `HTTP ${res.status}` }] }));
      if (body.errors?.length) throw new ApiError(body.errors);
      return body.data;
    },
    subscribe(query, variables, onData, onError) {
      return ws.subscribe(
        { query, variables },
        {
          next: (result) => (result.errors?.length ? onError(new ApiError(result.errors as GraphQLErrorItem[])) : onData(result.data)),
          error: (error) => onError(error instanceof Error ? error : new Error(closeReason(error))),
          complete: () => {},
        },
      );
    },
    dispose: () => void ws.dispose(),
  };
}

/** A WebSocket close event as a sentence (4401: the key was refused). */
function closeReason(event: unknown): string {
  const close = event as { code?: number; reason?: string };
  if (close?.code === 4401) return `Not authenticated: ${close.reason || 'enter a valid API key'}.`;
  return close?.reason || 'The connection to the server was lost.';
}

/**
 * One key per send, reused by its retries: the server then stores the message and starts
 * the run once, however often the request is repeated. (crypto.randomUUID needs a secure
 * context; getRandomValues also works over plain HTTP on a LAN address.)
 */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'send-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Retries `send` when the network failed (not when the server answered), with the same arguments. */
export async function withRetries<T>(send: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}
