import { readFileSync } from 'node:fs';
import type { Plugin } from 'graphql-yoga';

/**
 * The chat page at `GET /` (web/chat, bundled into the committed web/dist/chat.js): served
 * by threadql itself, no CDN. It holds no data — everything it shows comes from the public
 * GraphQL API with the key the user typed — so it is served before authentication.
 */
const web = new URL('../web/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, web), 'utf8');

// Only this origin: the page's own files, and its requests to /graphql (HTTP and WebSocket).
const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function useChatPage(): Plugin {
  const files = new Map<string, { body: string; type: string }>([
    ['/', { body: read('chat/index.html'), type: 'text/html; charset=utf-8' }],
    ['/chat/chat.js', { body: read('dist/chat.js'), type: 'text/javascript; charset=utf-8' }],
    ['/chat/chat.css', { body: read('chat/chat.css'), type: 'text/css; charset=utf-8' }],
  ]);
  return {
    onRequest({ request, url, endResponse }) {
      const file = request.method === 'GET' || request.method === 'HEAD' ? files.get(url.pathname) : undefined;
      if (!file) return;
      endResponse(
        new Response(request.method === 'HEAD' ? null : file.body, {
          headers: { 'content-type': file.type, 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' },
        }),
      );
    },
  };
}
