import { execFile } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/auth/keys.js';
import { post } from './auth-helpers.js';
import { queryDatabase, rawSql, removeTempDirs, startTestServer, subscribeSse, subscribeWs, tempDatabaseFile, within, type TestServer } from './helpers.js';
import { CREATE_THREAD, THREAD_EVENTS } from './operations.js';

/**
 * Issue 5, authentication: API keys (hashed, with a CLI), and every transport — HTTP, SSE,
 * WebSocket — refusing a missing, unknown or revoked key, open subscriptions included.
 */

const execFileP = promisify(execFile);
const REPO = new URL('..', import.meta.url).pathname;

// ---------------------------------------------------------------- the keys CLI

async function keysCli(databaseFile: string, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, DATABASE_URL: databaseFile, NODE_ENV: 'development' },
      timeout: 15_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (err: any) {
    return { stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : -1 };
  }
}

// ---------------------------------------------------------------- operations

const WHO = /* GraphQL */ `{ threads(first: 5) { edges { node { id title } } } }`;

// ---------------------------------------------------------------- tests

describe('API keys on a running server (alice, bob)', () => {
  let server: TestServer;
  let alice: { id: string; key: string };
  let bob: { id: string; key: string };
  let aliceThread: string;

  beforeAll(async () => {
    server = await startTestServer(); // offline model: runs answer without a provider
    // Before any key exists the server is open (loopback): this thread belongs to the local owner.
    const open = await post(server.url, null, CREATE_THREAD, { input: { title: 'open-mode thread' } });
    expect(open.status).toBe(200);
    expect(open.body.errors).toBeUndefined();

    const a = (await createApiKey(server.services.store.keys, 'alice'));
    const b = (await createApiKey(server.services.store.keys, 'bob'));
    alice = { id: a.row.id, key: a.key };
    bob = { id: b.row.id, key: b.key };
  });
  afterAll(async () => {
    await server?.stop();
    removeTempDirs();
  });

  it('keys look like tql_ + at least 32 random bytes, and differ', () => {
    for (const k of [alice.key, bob.key]) {
      expect(k).toMatch(/^tql_[A-Za-z0-9_-]{43,}$/);
      expect(Buffer.from(k.slice(4), 'base64url').length).toBeGreaterThanOrEqual(32);
    }
    expect(alice.key).not.toBe(bob.key);
  });

  it('once a key exists, a request without Authorization is HTTP 401 UNAUTHENTICATED', async () => {
    const res = await post(server.url, null, WHO);
    expect(res.status).toBe(401);
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/i);
  });

  it('also over GET, and for a mutation: nothing is stored', async () => {
    const get = await fetch(`${server.url}?query=${encodeURIComponent(WHO)}`, { headers: { accept: 'application/json' } });
    expect(get.status).toBe(401);
    expect(((await get.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');

    const [before] = await rawSql<{ n: number }>(server, 'select count(*)::int as n from threads');
    const res = await post(server.url, null, CREATE_THREAD, { input: { title: 'anonymous' } });
    expect(res.status).toBe(401);
    expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const [after] = await rawSql<{ n: number }>(server, 'select count(*)::int as n from threads');
    expect(after!.n).toBe(before!.n);
  });

  it.each([
    ['an unknown tql_ key', () => `tql_${Buffer.alloc(32, 7).toString('base64url')}`],
    ['a key that is not a tql_ key', () => 'sk-not-ours'],
    ['a valid key with one character changed', () => alice.key.slice(0, -1) + (alice.key.endsWith('A') ? 'B' : 'A')],
  ])('%s is HTTP 401 UNAUTHENTICATED', async (_name, key) => {
    const res = await post(server.url, key(), WHO);
    expect(res.status).toBe(401);
    expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('a malformed Authorization header (no Bearer, empty) is 401', async () => {
    for (const value of [alice.key, 'Basic abc', 'Bearer', 'Bearer  ']) {
      const res = await post(server.url, null, WHO, undefined, { authorization: value });
      expect(res.status, value).toBe(401);
      expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('a valid key works, and what it creates belongs to its owner (not to the open-mode owner)', async () => {
    const created = await post(server.url, alice.key, CREATE_THREAD, { input: { title: 'alice thread', messages: [{ role: 'USER', content: 'hello' }] } });
    expect(created.status).toBe(200);
    expect(created.body.errors).toBeUndefined();
    aliceThread = created.body.data.createThread.thread.id;

    const mine = await post(server.url, alice.key, WHO);
    expect(mine.status).toBe(200);
    expect(mine.body.data.threads.edges.map((e: any) => e.node.title)).toEqual(['alice thread']);
    const bobs = await post(server.url, bob.key, WHO);
    expect(bobs.body.data.threads.edges).toEqual([]);
    // The `Bearer` scheme is case-insensitive (RFC 7235).
    const lower = await post(server.url, null, WHO, undefined, { authorization: `bearer ${alice.key}` });
    expect(lower.status).toBe(200);
    expect(lower.body.data.threads.edges).toHaveLength(1);
  });

  it('SSE subscription without a key, or with a bad key: HTTP 401 UNAUTHENTICATED, no stream', async () => {
    for (const key of [null, 'tql_bogus']) {
      const sub = subscribeSse(server.url, THREAD_EVENTS, { threadId: aliceThread, after: 0 }, key);
      const res = await sub.response;
      expect(res.status).toBe(401);
      expect(res.contentType).not.toContain('text/event-stream');
      expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect((await sub.completed).how).toBe('not-a-stream');
    }
  });

  it('SSE subscription with a valid key streams', async () => {
    const sub = subscribeSse(server.url, THREAD_EVENTS, { threadId: aliceThread, after: 0 }, alice.key);
    expect((await sub.response).status).toBe(200);
    await sub.waitFor(1);
    expect(sub.results[0]!.data.threadEvents).toMatchObject({ seq: 1, threadId: aliceThread });
    sub.close();
  });

  it.each([
    ['no key at all', {}],
    ['an unknown key in connectionParams', { params: { authorization: 'Bearer tql_unknown' } }],
    ['a non-Bearer value in connectionParams', { params: { authorization: 'whatever' } }],
    ['an unknown key in the upgrade header', { header: 'Bearer tql_unknown' }],
  ])('WebSocket with %s is closed with 4401', async (_name, auth) => {
    const sub = subscribeWs(server.url, THREAD_EVENTS, { threadId: aliceThread, after: 0 }, auth);
    const closed = await within(sub.closed, 3000, 'socket close');
    expect(closed.code).toBe(4401);
    const outcome = await within(sub.outcome, 3000, 'subscription outcome');
    expect('error' in outcome).toBe(true);
    expect(sub.results).toEqual([]);
    sub.close();
  });

  it('WebSocket with a valid key in connectionParams works', async () => {
    const sub = subscribeWs(server.url, THREAD_EVENTS, { threadId: aliceThread, after: 0 }, { params: { authorization: `Bearer ${alice.key}` } });
    await sub.waitFor(1);
    expect(sub.results[0]!.data.threadEvents).toMatchObject({ seq: 1, threadId: aliceThread });
    sub.close();
  });

  it('WebSocket with a valid key in the upgrade request Authorization header works', async () => {
    const sub = subscribeWs(server.url, THREAD_EVENTS, { threadId: aliceThread, after: 0 }, { header: `Bearer ${alice.key}` });
    await sub.waitFor(1);
    expect(sub.results[0]!.data.threadEvents).toMatchObject({ seq: 1, threadId: aliceThread });
    sub.close();
  });

  it('WebSocket: a bad key in connectionParams is not rescued by a good upgrade header (no mixing)', async () => {
    // connectionParams win when present: a client that sends a wrong key must not silently be someone else.
    const sub = subscribeWs(server.url, THREAD_EVENTS, { threadId: aliceThread, after: 0 }, {
      params: { authorization: 'Bearer tql_unknown' },
      header: `Bearer ${alice.key}`,
    });
    const closed = await within(sub.closed, 3000, 'socket close');
    expect(closed.code).toBe(4401);
    sub.close();
  });

  it('revoking a key: HTTP is 401 at once; its open SSE and WebSocket subscriptions end within 2 s; bob is unaffected', async () => {
    // A second key for alice, so her other key keeps working: revocation is per key.
    const spare = (await createApiKey(server.services.store.keys, 'alice'));
    const victim = (await createApiKey(server.services.store.keys, 'alice'));
    const created = await post(server.url, victim.key, CREATE_THREAD, { input: { title: 'revocation', messages: [{ role: 'USER', content: 'hi' }] } });
    expect(created.body.errors).toBeUndefined();
    const threadId = created.body.data.createThread.thread.id;

    const overSse = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 }, victim.key);
    const overWs = subscribeWs(server.url, THREAD_EVENTS, { threadId, after: 0 }, { params: { authorization: `Bearer ${victim.key}` } });
    // A subscription by bob on his own thread, on the same server, must survive.
    const bobThread = (await post(server.url, bob.key, CREATE_THREAD, { input: { title: 'bob', messages: [{ role: 'USER', content: 'hi' }] } })).body
      .data.createThread.thread.id;
    const bobWs = subscribeWs(server.url, THREAD_EVENTS, { threadId: bobThread, after: 0 }, { params: { authorization: `Bearer ${bob.key}` } });
    await Promise.all([overSse.waitFor(1), overWs.waitFor(1), bobWs.waitFor(1)]);

    const revokedAt = Date.now();
    expect(await revokeApiKey(server.services.store.keys, victim.row.id)).toBe(true);

    // HTTP: at once, not after a sweep.
    const after = await post(server.url, victim.key, WHO);
    expect(after.status).toBe(401);
    expect(after.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');

    const [sseEnd, wsClose] = await Promise.all([within(overSse.completed, 2000, 'SSE end'), within(overWs.closed, 2000, 'WebSocket close')]);
    expect(Date.now() - revokedAt).toBeLessThan(2000);
    expect(wsClose.code).toBe(4401);
    // The SSE stream ends, its last payload telling why: UNAUTHENTICATED.
    expect(['complete', 'eof']).toContain(sseEnd.how);
    const last = overSse.results.at(-1);
    expect(last?.errors?.[0]?.extensions?.code, JSON.stringify(last)).toBe('UNAUTHENTICATED');
    for (const r of overSse.results.slice(0, -1)) expect(r.errors).toBeUndefined();

    // A new subscription with the revoked key is refused on both transports.
    const again = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 }, victim.key);
    expect((await again.response).status).toBe(401);
    const againWs = subscribeWs(server.url, THREAD_EVENTS, { threadId, after: 0 }, { params: { authorization: `Bearer ${victim.key}` } });
    expect((await within(againWs.closed, 3000, 'socket close')).code).toBe(4401);
    againWs.close();

    // Alice's other key, and bob's open subscription, are untouched.
    const spareRes = await post(server.url, spare.key, WHO);
    expect(spareRes.status).toBe(200);
    expect(spareRes.body.data.threads.edges.map((e: any) => e.node.id)).toContain(threadId);
    let bobClosed = false;
    void bobWs.closed.then(() => (bobClosed = true));
    const moreForBob = await post(server.url, bob.key, `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "still here?", onActiveRun: ENQUEUE }) { run { id } } }`, { t: bobThread });
    expect(moreForBob.body.errors).toBeUndefined();
    await bobWs.waitFor(bobWs.results.length + 1);
    expect(bobClosed).toBe(false);
    bobWs.close();
    overWs.close();
    overSse.close();
  });

  it('revoking a key: a NEW subscription on an already open WebSocket is refused at once (not only after the sweep)', async () => {
    const victim = (await createApiKey(server.services.store.keys, 'alice'));
    const created = await post(server.url, victim.key, CREATE_THREAD, { input: { title: 'ws-at-once', messages: [{ role: 'USER', content: 'hi' }] } });
    const threadId = created.body.data.createThread.thread.id;
    const first = subscribeWs(server.url, THREAD_EVENTS, { threadId, after: 0 }, { params: { authorization: `Bearer ${victim.key}` } });
    await first.waitFor(1);

    await revokeApiKey(server.services.store.keys, victim.row.id);
    // Same client, same socket, right after the revocation: replaying the thread must not be allowed.
    const results: any[] = [];
    const outcome = await within(
      new Promise<unknown>((resolve) => {
        first.client.subscribe(
          { query: THREAD_EVENTS, variables: { threadId, after: 0 } },
          { next: (r) => results.push(r), error: (e) => resolve({ error: e }), complete: () => resolve('complete') },
        );
      }),
      3000,
      'the second subscription ends',
    );
    expect(results.filter((r) => r.data), `got data after revocation; outcome ${JSON.stringify(outcome)}`).toEqual([]);
    first.close();
  });

  it('revoking one key of an owner while that owner has another open subscription on another key leaves the latter open', async () => {
    const k1 = (await createApiKey(server.services.store.keys, 'dora'));
    const k2 = (await createApiKey(server.services.store.keys, 'dora'));
    const created = await post(server.url, k1.key, CREATE_THREAD, { input: { title: 'dora', messages: [{ role: 'USER', content: 'hi' }] } });
    const threadId = created.body.data.createThread.thread.id;
    const s1 = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 }, k1.key);
    const s2 = subscribeSse(server.url, THREAD_EVENTS, { threadId, after: 0 }, k2.key);
    await Promise.all([s1.waitFor(1), s2.waitFor(1)]);
    await revokeApiKey(server.services.store.keys, k1.row.id);
    await within(s1.completed, 2000, 'SSE of the revoked key ends');
    // s2 still receives events after the sweep that ended s1.
    const n = s2.results.length;
    const sent = await post(server.url, k2.key, `mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "more", onActiveRun: ENQUEUE }) { run { id } } }`, { t: threadId });
    expect(sent.body.errors).toBeUndefined();
    await s2.waitFor(n + 1);
    s2.close();
  });
});

describe('the keys CLI end to end (npm run keys)', () => {
  let databaseFile: string;
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.stop();
    removeTempDirs();
  });

  it('create prints the key once; list shows id/owner/prefix, never the key; the database holds no plaintext; revoke works at once on a running server', async () => {
    databaseFile = tempDatabaseFile();

    const created = await keysCli(databaseFile, 'create', '--owner', 'carol');
    expect(created.code, created.stderr).toBe(0);
    const key = /\b(tql_[A-Za-z0-9_-]{43,})\b/.exec(created.stdout)?.[1];
    expect(key, created.stdout).toBeDefined();
    const id = /\b(key_[A-Za-z0-9_-]+)/.exec(created.stdout)?.[1];
    expect(id, created.stdout).toBeDefined();
    expect(created.stdout).toContain('carol');

    // list: id, owner and a short prefix of the key — never the key, never its secret part.
    const listed = await keysCli(databaseFile, 'list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(id!);
    expect(listed.stdout).toContain('carol');
    expect(listed.stdout).toContain(key!.slice(0, 10));
    expect(listed.stdout).not.toContain(key!);
    expect(listed.stdout).not.toContain(key!.slice(12));
    expect(listed.stdout).toMatch(/active/);

    // The database: no column of api_keys holds the key or its secret part; the raw files neither.
    const rows = await queryDatabase(databaseFile, 'select * from api_keys');
    expect(rows).toHaveLength(1);
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        expect(String(value), column).not.toContain(key!);
        expect(String(value), column).not.toContain(key!.slice(12));
      }
    }
    expect(rows[0]!.owner).toBe('carol');
    // SQLite: the raw files (database and WAL) neither. (PostgreSQL's files are the server's.)
    for (const file of [databaseFile, `${databaseFile}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      expect(bytes.includes(Buffer.from(key!)), file).toBe(false);
      expect(bytes.includes(Buffer.from(key!.slice(12))), file).toBe(false);
    }

    // Use it: a server on the same database file.
    server = await startTestServer({ databaseFile });
    expect((await post(server.url, null, WHO)).status).toBe(401);
    const ok = await post(server.url, key, CREATE_THREAD, { input: { title: 'carol', messages: [{ role: 'USER', content: 'hi' }] } });
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    const threadId = ok.body.data.createThread.thread.id;
    const open = subscribeWs(server.url, THREAD_EVENTS, { threadId, after: 0 }, { params: { authorization: `Bearer ${key}` } });
    await open.waitFor(1);

    // Revoke from another process: HTTP refuses at once, the open WebSocket closes 4401.
    const revoked = await keysCli(databaseFile, 'revoke', id!);
    expect(revoked.code, revoked.stderr).toBe(0);
    const refused = await post(server.url, key, WHO);
    expect(refused.status).toBe(401);
    expect(refused.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await within(open.closed, 2000, 'WebSocket close after CLI revoke')).code).toBe(4401);
    open.close();

    const relisted = await keysCli(databaseFile, 'list');
    expect(relisted.stdout).toMatch(new RegExp(`${id}.*revoked`));
    expect(relisted.stdout).not.toContain(key!);
  });

  it('the CLI refuses bad input with a usage message and exit code 1', async () => {
    // One database file each: concurrent first-time migrations of one file would race.
    const [noOwner, badOwner, unknown, nothing] = await Promise.all([
      keysCli(tempDatabaseFile(), 'create'),
      keysCli(tempDatabaseFile(), 'create', '--owner', 'no spaces please'),
      keysCli(tempDatabaseFile(), 'revoke', 'key_doesnotexist'),
      keysCli(tempDatabaseFile()),
    ]);
    expect(noOwner.code).toBe(1);
    expect(noOwner.stderr).toMatch(/--owner/);
    expect(badOwner.code).toBe(1);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('key_doesnotexist');
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/Usage/);
  });
});
