import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleChat, chatBundleFile } from '../scripts/build-web.js';
import { createApiKey } from '../src/auth/keys.js';
import { onPostgres, removeTempDirs, startTestServer, type TestServer } from './helpers.js';

/** The chat page's committed bundle matches its sources, and threadql serves it (no CDN). */

// Once, in the SQLite project: nothing here depends on the backend.
describe.skipIf(onPostgres)('chat page assets', () => {
  let server: TestServer;
  const at = (path: string) => server.url.replace('/graphql', path);
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
    removeTempDirs();
  });

  it('web/dist/chat.js is the bundle of web/chat (run `npm run web:build` after editing the page)', async () => {
    expect(readFileSync(chatBundleFile, 'utf8') === (await bundleChat()), 'web/dist/chat.js is stale: run npm run web:build').toBe(true);
  });

  it('GET / serves the page, its script and style from this server only', async () => {
    const page = await fetch(at('/'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.filter((a) => /^(https?:)?\/\//.test(a)), 'no asset from another origin').toEqual([]);
    for (const asset of assets.filter((a) => a.startsWith('/chat/'))) {
      const res = await fetch(at(asset));
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.js') ? /javascript/ : /css/);
    }
    expect(readFileSync(chatBundleFile, 'utf8')).not.toMatch(/https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}\/[^"'\s]*\.(js|css)/i);
    // GraphiQL stays at /graphql.
    const graphiql = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await graphiql.text()).toContain('GraphiQL');
  });

  it('production mode serves the page too (no key needed for it, CSRF prevention does not refuse it), its API calls need a key', async () => {
    const prod = await startTestServer({ env: { NODE_ENV: 'production' } });
    try {
      await createApiKey(prod.services.store.keys, 'alice');
      const base = prod.url.replace('/graphql', '');
      for (const path of ['/', '/chat/chat.js', '/chat/chat.css']) expect((await fetch(base + path)).status, path).toBe(200);
      const api = await fetch(prod.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
      expect(api.status).toBe(401);
    } finally {
      await prod.stop();
    }
  });
});
