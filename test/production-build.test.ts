import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDatabaseFile } from './helpers.js';
import { spawnServer } from './process-helpers.js';

/** `npm run build` makes a dist/ that plain `node` runs: no TypeScript compiled at start. */

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `dist-test-${process.pid}`;

describe('the production build', () => {
  afterAll(() => {
    rmSync(join(root, out), { recursive: true, force: true });
    removeTempDirs();
  });

  it('builds every module and its migrations, and `node <dist>/server.js` serves the API and the chat page', async () => {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', out], { cwd: root, stdio: 'pipe' });
    const built = readdirSync(join(root, out), { recursive: true }).map(String);
    expect(built).toContain('server.js');
    expect(built.some((f) => f.endsWith('.ts'))).toBe(false);
    expect(existsSync(join(root, out, 'store/sqlite/migrations/meta/_journal.json'))).toBe(true);

    const server = await spawnServer({ env: { DATABASE_URL: tempDatabaseFile() }, command: [process.execPath, join(out, 'server.js')] });
    try {
      const answer = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation { createThread(input: { messages: [{ role: USER, content: "hi" }] }) { reply { status } } }' }),
      });
      expect(answer.headers.get('x-request-id')).toBeTruthy();
      expect((await answer.json()).data.createThread.reply.status).toBe('COMPLETED');
      const page = await fetch(server.url.replace('/graphql', '/'));
      expect(await page.text()).toContain('/chat/chat.js');
      expect((await fetch(server.url.replace('/graphql', '/chat/chat.js'))).status).toBe(200);
      expect(server.output()).toContain('"msg":"run ended"');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
