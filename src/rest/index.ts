import type { Plugin } from 'graphql-yoga';
import { createRestRouter, type RestDeps } from './router.js';

/**
 * Serves the Assistants API (/v1) on yoga's own server and port: requests under /v1 are
 * answered by the REST router before GraphQL sees them, after yoga's CORS and before its
 * GraphQL authentication (the router authenticates with the same keys, answering OpenAI's
 * error envelope). Everything yoga does to every response (CORS headers) applies.
 */
export function useAssistantsApi(deps: RestDeps): Plugin {
  const router = createRestRouter(deps);
  return {
    async onRequest({ request, url, endResponse }) {
      if (url.pathname !== '/v1' && !url.pathname.startsWith('/v1/')) return;
      if (request.method === 'OPTIONS') return;
      const response = await router.fetch(request);
      // A browser app (the SDK's dangerouslyAllowBrowser) may read what the SDK reads.
      if (request.headers.has('origin')) response.headers.set('access-control-expose-headers', 'openai-poll-after-ms, retry-after, x-should-retry, x-request-id');
      endResponse(response);
    },
  };
}
