import OpenAI from 'openai';
import type { FakeProvider } from './fake-provider.js';
import { NO_RATE_LIMIT, startWithFakeProvider, type TestServer } from './helpers.js';

/** The Assistants API (/v1) as its users reach it: the real openai SDK with only `baseURL` changed. */

export const v1Url = (server: TestServer) => server.url.replace(/\/graphql$/, '/v1');

/** The SDK pointed at threadql; any apiKey works in open mode (the SDK insists on one). */
export function sdk(server: TestServer, apiKey = 'sk-not-a-threadql-key', options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ baseURL: v1Url(server), apiKey, maxRetries: 0, ...options });
}

export async function startV1(env: Record<string, string> = {}): Promise<{ server: TestServer; fake: FakeProvider; client: OpenAI }> {
  const { server, fake } = await startWithFakeProvider({ env: { ...NO_RATE_LIMIT, ...env } });
  return { server, fake, client: sdk(server) };
}

/** The text of a message's blocks, as an application reads it. */
export const textOf = (message: OpenAI.Beta.Threads.Message) =>
  message.content.map((block) => (block.type === 'text' ? block.text.value : '')).join('');

/** POST/GET a /v1 path with fetch (for what the SDK hides: headers, raw bodies). */
export function raw(server: TestServer, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return fetch(v1Url(server) + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
}
