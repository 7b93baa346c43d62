import { Lexer, Source, TokenKind, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { operationCost } from '../src/query-cost.js';
import { schema } from '../src/schema/index.js';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { post, postJson, wsClient, wsRun, type HttpAnswer } from './auth-helpers.js';
import { postMultipart, rawSql, removeTempDirs, sseExchange, startTestServer, waitUntil, within, type TestServer } from './helpers.js';

/**
 * Issue 5, query limits and rate limits: each graphql-armor limit just under and just over its
 * default (the over-limit operation is a mutation that would store something, and stores
 * nothing), the contract's ordinary operations pass, batching is off, and the per-owner rate
 * limits answer RATE_LIMITED with a retry-after hint.
 */

// ---------------------------------------------------------------- local helpers

/** Tokens as graphql-armor's max-tokens counts them (every lexer token but <EOF>; comments are skipped). */
function tokenCount(query: string): number {
  const lexer = new Lexer(new Source(query));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n++;
  return n;
}

/** The deepest field nesting (no fragments here): the number of selection sets around a field. */
function depthOf(query: string): number {
  let depth = 0;
  let max = 0;
  // Only selection-set braces: the operations below pass their input as variables.
  for (const ch of query) {
    if (ch === '{') max = Math.max(max, ++depth);
    else if (ch === '}') depth--;
  }
  return max;
}

/** The server's own cost estimate (src/query-cost.ts: connections counted by their page size). */
function costOf(query: string): number {
  return operationCost(schema, parse(query), { input: { name: 'cost' } });
}

const DEFAULTS = loadConfig({}).queryLimits;
const LIMIT_MESSAGE = /limit/i;

// ---------------------------------------------------------------- operations

/** A selection of exactly `depth` levels under createAssistant (createAssistant itself is level 1). */
function nested(depth: number): string {
  // createAssistant(1) assistant(2) threads(3) edges(4) node(5) then activeRun / thread alternating, leaf id.
  let fields = ['assistant', 'threads', 'edges', 'node'];
  let type: 'Thread' | 'Run' = 'Thread';
  while (fields.length + 2 < depth) {
    fields.push(type === 'Thread' ? 'activeRun' : 'thread');
    type = type === 'Thread' ? 'Run' : 'Thread';
  }
  return fields.reduceRight((inner, field) => `${field} { ${inner} }`, 'id');
}

const ORDINARY_THREAD = /* GraphQL */ `
  query Ordinary($id: ID!) {
    thread(id: $id) {
      id title lastEventSeq usage { totalTokens }
      messages(first: 50) {
        pageInfo { hasNextPage endCursor }
        edges { cursor node {
          id role content status createdAt metadata
          run { id status model error { code message } usage { inputTokens outputTokens totalTokens } reply { id content status } }
        } }
      }
      runs(first: 50) { edges { node { id status } } }
    }
  }
`;

const EVENT_ALL_FIELDS = /* GraphQL */ `
  __typename seq threadId
  ... on RunStatusEvent { run {
    id status model incompleteReason createdAt startedAt completedAt
    error { code message } usage { inputTokens outputTokens totalTokens }
    reply { id role content status createdAt metadata }
    thread { id } assistant { id }
  } }
  ... on MessageEvent { message { id role content status createdAt metadata run { id status } } }
  ... on MessageDeltaEvent { runId messageId delta }
`;

const CREATE_THREAD_DEFER = /* GraphQL */ `
  mutation Start($input: CreateThreadInput!) {
    createThread(input: $input) {
      thread { id title }
      run { id status model }
      ... @defer { reply { id role content status run { id status error { code message } usage { inputTokens outputTokens totalTokens } } } }
    }
  }
`;

// ---------------------------------------------------------------- tests

describe('query limits (defaults)', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let key: string;
  let threadId: string;
  const assistantsNamed = async (prefix: string) =>
    (await rawSql<{ n: number }>(server, `select count(*)::int as n from assistants where name like ?`, [`${prefix}%`]))[0]!.n;

  beforeAll(async () => {
    fake = await startFakeProvider();
    fake.setDefault({ text: 'Short answer.' });
    // Runs are rate-limited per window; this file starts ~55 runs, well within a raised limit.
    server = await startTestServer({ provider: fake, env: { RATE_LIMIT_RUNS: '1000', RATE_LIMIT_REQUESTS: '10000' } });
    key = (await createApiKey(server.services.store.keys, 'alice')).key;
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    removeTempDirs();
  });

  it('the defaults are the documented ones', () => {
    expect(DEFAULTS).toEqual({ depth: 12, aliases: 30, tokens: 4000, directives: 20, cost: 25000 });
  });

  describe('depth', () => {
    const build = (depth: number, name: string) => {
      const query = `mutation ($input: CreateAssistantInput!) { a: createAssistant(input: $input) { ${nested(depth)} } }`;
      return { query, variables: { input: { name } } };
    };

    it(`depth ${DEFAULTS.depth} passes and runs`, async () => {
      const body = build(DEFAULTS.depth, 'depth-under');
      expect(depthOf(body.query)).toBe(DEFAULTS.depth);
      const res = await postJson(server.url, key, body);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.a.assistant).toEqual({ threads: { edges: [] } });
      expect(await assistantsNamed('depth-under')).toBe(1);
    });

    it(`depth ${DEFAULTS.depth + 1} is refused before any resolver runs (nothing stored)`, async () => {
      const body = build(DEFAULTS.depth + 1, 'depth-over');
      expect(depthOf(body.query)).toBe(DEFAULTS.depth + 1);
      const res = await postJson(server.url, key, body);
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors[0].message).toMatch(/depth/i);
      expect(await assistantsNamed('depth-over')).toBe(0);
    });
  });

  describe('aliases', () => {
    const build = (n: number, prefix: string) => ({
      query: `mutation { ${Array.from({ length: n }, (_, i) => `a${i}: createAssistant(input: { name: "${prefix}-${i}" }) { assistant { id } }`).join('\n')} }`,
    });

    it(`${DEFAULTS.aliases} aliased createAssistant pass and all run`, async () => {
      const res = await postJson(server.url, key, build(DEFAULTS.aliases, 'alias-under'));
      expect(res.body.errors).toBeUndefined();
      expect(Object.keys(res.body.data)).toHaveLength(DEFAULTS.aliases);
      expect(await assistantsNamed('alias-under')).toBe(DEFAULTS.aliases);
    });

    it(`${DEFAULTS.aliases + 1} aliased createAssistant are refused: not one is stored`, async () => {
      const res = await postJson(server.url, key, build(DEFAULTS.aliases + 1, 'alias-over'));
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors[0].message).toMatch(/alias/i);
      expect(await assistantsNamed('alias-over')).toBe(0);
    });

    it('nested aliases count too (one mutation, 31 aliased fields under it)', async () => {
      const fields = Array.from({ length: DEFAULTS.aliases }, (_, i) => `f${i}: id`).join(' ');
      const res = await postJson(server.url, key, {
        query: `mutation ($input: CreateAssistantInput!) { m: createAssistant(input: $input) { assistant { ${fields} } } }`,
        variables: { input: { name: 'alias-nested-over' } },
      });
      expect(res.body.errors?.[0]?.message).toMatch(/alias/i);
      expect(await assistantsNamed('alias-nested-over')).toBe(0);
    });
  });

  describe('tokens', () => {
    /**
     * createAssistant padded to exactly `n` tokens with distinctly aliased `__typename` fields (3
     * tokens each; graphql-armor does not count aliases of __typename, and distinct response names
     * keep graphql-js' overlapping-fields check linear), plus 0-2 extra `id` for the remainder.
     */
    const build = (n: number, name: string) => {
      const shape = (pads: number, ids: number) =>
        `mutation ($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { id ${'id '.repeat(ids)}} ${Array.from({ length: pads }, (_, i) => `p${i}: __typename`).join(' ')} } }`;
      const room = n - tokenCount(shape(0, 0));
      return { query: shape(Math.floor(room / 3), room % 3), variables: { input: { name } } };
    };

    it(`${DEFAULTS.tokens} tokens pass and run`, async () => {
      const body = build(DEFAULTS.tokens, 'tokens-under');
      expect(tokenCount(body.query)).toBe(DEFAULTS.tokens);
      const res = await postJson(server.url, key, body);
      expect(res.body.errors).toBeUndefined();
      expect(await assistantsNamed('tokens-under')).toBe(1);
    });

    it(`${DEFAULTS.tokens + 1} tokens are refused while parsing: nothing stored`, async () => {
      const body = build(DEFAULTS.tokens + 1, 'tokens-over');
      expect(tokenCount(body.query)).toBe(DEFAULTS.tokens + 1);
      const res = await postJson(server.url, key, body);
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors[0].message).toMatch(/token/i);
      expect(await assistantsNamed('tokens-over')).toBe(0);
    });
  });

  describe('directives', () => {
    const build = (n: number, name: string) => ({
      query: `mutation ($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { ${Array.from({ length: n }, () => 'id @include(if: true)').join(' ')} } } }`,
      variables: { input: { name } },
    });

    it(`${DEFAULTS.directives} directives pass and run`, async () => {
      const res = await postJson(server.url, key, build(DEFAULTS.directives, 'directives-under'));
      expect(res.body.errors).toBeUndefined();
      expect(await assistantsNamed('directives-under')).toBe(1);
    });

    it(`${DEFAULTS.directives + 1} directives are refused: nothing stored`, async () => {
      const res = await postJson(server.url, key, build(DEFAULTS.directives + 1, 'directives-over'));
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors[0].message).toMatch(/directive/i);
      expect(await assistantsNamed('directives-over')).toBe(0);
    });
  });

  describe('cost', () => {
    /** createAssistant selecting the new assistant's threads (`first: n`) and their messages (`first: m`). */
    const template = (n: number, m: number) =>
      `mutation ($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { id threads(first: ${n}) { edges { node { id messages(first: ${m}) { edges { node { id } } } } } } } } }`;
    /** The two operations of this template closest to the limit, on either side of it (page sizes ≤ 100). */
    function boundary(): { under: string; over: string; underCost: number; overCost: number } {
      let best: { under: string; over: string; underCost: number; overCost: number } | null = null;
      for (let m = 1; m <= 100; m++) {
        // The largest n whose cost stays within the limit (cost grows with n).
        let lo = 0;
        let hi = 100;
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2);
          if (costOf(template(mid, m)) <= DEFAULTS.cost) lo = mid;
          else hi = mid - 1;
        }
        if (lo < 1 || lo >= 100) continue;
        const underCost = costOf(template(lo, m));
        const overCost = costOf(template(lo + 1, m));
        if (!best || overCost - underCost < best.overCost - best.underCost) best = { under: template(lo, m), over: template(lo + 1, m), underCost, overCost };
      }
      if (!best) throw new Error('no boundary found for the cost template');
      return best;
    }

    it(`cost just under ${DEFAULTS.cost} passes and runs; just over is refused with nothing stored`, async () => {
      const { under, over, underCost, overCost } = boundary();
      expect(underCost).toBeLessThanOrEqual(DEFAULTS.cost);
      expect(overCost).toBeGreaterThan(DEFAULTS.cost);
      expect(overCost - underCost, 'the two sides are close').toBeLessThan(DEFAULTS.cost * 0.05);

      const ok = await postJson(server.url, key, { query: under, variables: { input: { name: 'cost-under' } } });
      expect(ok.body.errors, `cost ${underCost}`).toBeUndefined();
      expect(await assistantsNamed('cost-under')).toBe(1);

      const refused = await postJson(server.url, key, { query: over, variables: { input: { name: 'cost-over' } } });
      expect(refused.body.data ?? null).toBeNull();
      expect(refused.body.errors[0].message).toMatch(/cost/i);
      expect(await assistantsNamed('cost-over')).toBe(0);
    });

    it('an abusive fan-out (100 threads × 100 messages × run × reply) is refused', async () => {
      const res = await post(
        server.url,
        key,
        `{ threads(first: 100) { edges { node { messages(first: 100) { edges { node { content run { reply { content } } } } } } } } }`,
      );
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors[0].message).toMatch(/cost/i);
    });

    it('the same fan-out with its page sizes in variables is refused too (the cost must not depend on literal vs variable)', async () => {
      // graphql-armor's cost rule multiplies by `first`/`last` only when they are literals; the
      // server computes the cost at execution, with the variables applied.
      const query = `query ($n: Int!, $m: Int!) { threads(first: $n) { edges { node { messages(first: $m) { edges { node { content run { reply { content } } } } } } } } }`;
      const res = await post(server.url, key, query, { n: 100, m: 100 });
      expect(res.body.data ?? null, JSON.stringify(res.body).slice(0, 300)).toBeNull();
      expect(res.body.errors?.[0]?.message).toMatch(/cost/i);
    });
  });

  it('refusals carry an extensions.code, as every GraphQL error must (contract, "Errors")', async () => {
    const res = await postJson(server.url, key, { query: `mutation ($input: CreateAssistantInput!) { a: createAssistant(input: $input) { ${nested(DEFAULTS.depth + 1)} } }`, variables: { input: { name: 'code-check' } } });
    expect(res.body.errors?.[0]?.message).toMatch(LIMIT_MESSAGE);
    expect(res.body.errors[0].extensions?.code, JSON.stringify(res.body)).toEqual(expect.any(String));
  });

  describe('ordinary operations of the contract pass', () => {
    beforeAll(async () => {
      // A thread with 50 user messages, each with its run and its reply (100 messages).
      const created = await post(server.url, key, 'mutation { createThread(input: { title: "long" }) { thread { id } } }');
      threadId = created.body.data.createThread.thread.id;
      for (let i = 0; i < 50; i++) {
        const sent = await post(server.url, key, 'mutation ($t: ID!, $c: String!) { sendMessage(input: { threadId: $t, content: $c }) { reply { status } } }', {
          t: threadId,
          c: `question ${i}`,
        });
        expect(sent.body.errors).toBeUndefined();
        expect(sent.body.data.sendMessage.reply.status).toBe('COMPLETED');
      }
    }, 30_000);

    it('a thread with 50 messages, each with its run and reply, in one query', async () => {
      expect(depthOf(ORDINARY_THREAD)).toBeLessThanOrEqual(DEFAULTS.depth);
      const res = await post(server.url, key, ORDINARY_THREAD, { id: threadId });
      expect(res.body.errors).toBeUndefined();
      const { thread } = res.body.data;
      expect(thread.messages.edges).toHaveLength(50);
      expect(thread.messages.pageInfo.hasNextPage).toBe(true);
      expect(thread.runs.edges).toHaveLength(50);
      const users = thread.messages.edges.filter((e: any) => e.node.role === 'USER');
      expect(users).toHaveLength(25);
      for (const e of users) expect(e.node.run).toMatchObject({ status: 'COMPLETED', reply: { content: 'Short answer.', status: 'COMPLETED' } });
    });

    it('the same query paging on with after: endCursor', async () => {
      const first = await post(server.url, key, ORDINARY_THREAD, { id: threadId });
      const q = ORDINARY_THREAD.replace('messages(first: 50)', 'messages(first: 50, after: $after)').replace('($id: ID!)', '($id: ID!, $after: String)');
      const next = await post(server.url, key, q, { id: threadId, after: first.body.data.thread.messages.pageInfo.endCursor });
      expect(next.body.errors).toBeUndefined();
      expect(next.body.data.thread.messages.edges).toHaveLength(50);
      expect(next.body.data.thread.messages.pageInfo.hasNextPage).toBe(false);
    });

    it('createThread with @defer (multipart/mixed): the ids first, then the reply', async () => {
      const { status, contentType, parts } = await postMultipart(
        server.url,
        CREATE_THREAD_DEFER,
        { input: { title: 'deferred', metadata: { source: 'limits' }, messages: [{ role: USER_ROLE, content: 'Hi there' }] } },
        key,
      );
      expect(status).toBe(200);
      expect(contentType).toContain('multipart/mixed');
      expect(parts[0].errors).toBeUndefined();
      expect(parts[0].data.createThread.thread.id).toMatch(/^thread_/);
      const later = parts.slice(1).flatMap((p) => p.incremental ?? []);
      expect(later[0]?.errors).toBeUndefined();
      expect(later[0].data.reply).toMatchObject({ role: 'ASSISTANT', content: 'Short answer.', status: 'COMPLETED', run: { status: 'COMPLETED' } });
    });

    it('runEvents and threadEvents with every event field, over SSE and WebSocket', async () => {
      fake.enqueue({ chunks: ['one ', 'two ', 'three'] });
      const started = await post(server.url, key, 'mutation { createThread(input: { messages: [{ role: USER, content: "count" }] }) { thread { id } run { id } reply { id } } }');
      expect(started.body.errors).toBeUndefined();
      const { thread, run } = started.body.data.createThread;
      const RUN_EVENTS = `subscription ($r: ID!) { runEvents(runId: $r) { ${EVENT_ALL_FIELDS} } }`;
      const THREAD_EVENTS = `subscription ($t: ID!) { threadEvents(threadId: $t, after: 0) { ${EVENT_ALL_FIELDS} } }`;
      for (const q of [RUN_EVENTS, THREAD_EVENTS]) expect(depthOf(q)).toBeLessThanOrEqual(DEFAULTS.depth);

      const overSse = await sseExchange(server.url, RUN_EVENTS, { r: run.id }, key);
      expect(overSse.status).toBe(200);
      expect(overSse.results.every((r) => !r.errors)).toBe(true);
      expect(overSse.results.at(-1).data.runEvents.run).toMatchObject({ status: 'COMPLETED', thread: { id: thread.id } });

      const client = wsClient(server.url, { key });
      try {
        const viaWs = wsRun(client, RUN_EVENTS, { r: run.id });
        expect(await within(viaWs.outcome, 5000, 'runEvents over WebSocket')).toEqual({ completed: true });
        expect(viaWs.results.every((r) => !r.errors)).toBe(true);
        expect(viaWs.results.at(-1).data.runEvents.run.status).toBe('COMPLETED');

        const replay = wsRun(client, THREAD_EVENTS, { t: thread.id });
        await waitUntil(() => replay.results.some((r) => r.data?.threadEvents?.run?.status === 'COMPLETED'), 'threadEvents replay', 5000);
        expect(replay.results.every((r) => !r.errors)).toBe(true);
        expect(replay.results.map((r) => r.data.threadEvents.__typename)).toContain('MessageDeltaEvent');
        replay.unsubscribe();
      } finally {
        await client.dispose();
      }
    });
  });

  describe('over WebSocket', () => {
    it('an over-limit subscription is refused for that operation only: the socket and its other subscriptions stay open', async () => {
      const created = await post(server.url, key, 'mutation { createThread(input: { title: "ws" }) { thread { id } } }');
      const t = created.body.data.createThread.thread.id;
      const closes: { code: number; reason: string }[] = [];
      const client = wsClient(server.url, { key }, (e) => closes.push(e));
      try {
        // A live subscription that must survive its neighbour's refusal.
        // after: 0 replays from the log, so no event is missed however late the server registers it.
        const live = wsRun(client, 'subscription ($t: ID!) { threadEvents(threadId: $t, after: 0) { seq } }', { t });
        let deep = 'id';
        for (let i = 0; i < 8; i++) deep = `thread { activeRun { ${deep} } }`;
        const refused = wsRun(client, `subscription ($t: ID!) { threadEvents(threadId: $t) { seq ... on RunStatusEvent { run { ${deep} } } } }`, { t });
        const outcome = await within(refused.outcome, 3000, 'refusal');
        expect(closes, 'the socket must not be closed for one refused operation').toEqual([]);
        expect('error' in outcome && Array.isArray(outcome.error), `a GraphQL error for this subscription, got ${JSON.stringify((outcome as any).error?.code ?? outcome)}`).toBe(true);
        expect((outcome as any).error[0].message).toMatch(/depth/i);
        // The neighbour still receives events.
        const sent = await post(server.url, key, 'mutation ($t: ID!) { sendMessage(input: { threadId: $t, content: "still there?" }) { run { id } } }', { t });
        expect(sent.body.errors).toBeUndefined();
        await waitUntil(() => live.results.length > 0, 'the other subscription receives events', 3000);
        live.unsubscribe();
      } finally {
        await client.dispose();
      }
    });
  });

  it('batching is off: an array body is refused and none of its operations runs', async () => {
    const res = await postJson(server.url, key, [
      { query: 'mutation { createAssistant(input: { name: "batch-1" }) { assistant { id } } }' },
      { query: 'mutation { createAssistant(input: { name: "batch-2" }) { assistant { id } } }' },
    ]);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(res.body)).toMatch(/batch/i);
    expect(await assistantsNamed('batch-')).toBe(0);
  });
});

const USER_ROLE = 'USER';

describe('rate limits per owner', () => {
  let fake: FakeProvider;
  afterAll(async () => {
    await fake?.close();
    removeTempDirs();
  });
  beforeAll(async () => {
    fake = await startFakeProvider();
  });

  it('RATE_LIMIT_REQUESTS=5: the 6th request in the window is HTTP 429 RATE_LIMITED with a retry-after hint, not executed; bob is unaffected', async () => {
    const server = await startTestServer({ provider: fake, env: { RATE_LIMIT_REQUESTS: '5' } });
    try {
      const alice = (await createApiKey(server.services.store.keys, 'alice')).key;
      const bob = (await createApiKey(server.services.store.keys, 'bob')).key;
      for (let i = 0; i < 5; i++) {
        const res = await post(server.url, alice, '{ threads { edges { node { id } } } }');
        expect(res.status, `request ${i + 1}`).toBe(200);
      }
      const sixth = await post(server.url, alice, 'mutation { createAssistant(input: { name: "sixth" }) { assistant { id } } }');
      expect(sixth.status).toBe(429);
      expect(sixth.body.errors[0].extensions.code).toBe('RATE_LIMITED');
      const retryAfter = sixth.body.errors[0].extensions.retryAfter;
      expect(retryAfter).toEqual(expect.any(Number));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(sixth.headers.get('retry-after')).toBe(String(retryAfter));
      expect(await rawSql(server, `select count(*)::int as n from assistants where name = 'sixth'`)).toEqual([{ n: 0 }]);

      // Still limited on every transport: SSE and WebSocket.
      const sse = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${alice}` },
        body: JSON.stringify({ query: 'subscription { threadEvents(threadId: "thread_x") { seq } }' }),
      });
      expect(sse.status).toBe(429);
      await sse.text();
      const client = wsClient(server.url, { key: alice });
      try {
        const sub = wsRun(client, 'subscription { threadEvents(threadId: "thread_x") { seq } }');
        const outcome = (await within(sub.outcome, 3000, 'WebSocket refusal')) as any;
        const errors = outcome.error ?? sub.results.flatMap((r) => r.errors ?? []);
        expect(JSON.stringify(errors)).toContain('RATE_LIMITED');
      } finally {
        await client.dispose();
      }

      // Bob has his own budget.
      for (let i = 0; i < 5; i++) {
        const res = await post(server.url, bob, '{ threads { edges { node { id } } } }');
        expect(res.status, `bob's request ${i + 1}`).toBe(200);
      }
      expect((await post(server.url, bob, '{ threads { edges { node { id } } } }')).status).toBe(429);
    } finally {
      await server.stop();
    }
  });

  it('the window resets: after retry-after, requests pass again', async () => {
    const server = await startTestServer({ provider: fake, env: { RATE_LIMIT_REQUESTS: '2', RATE_LIMIT_WINDOW_MS: '600' } });
    try {
      const alice = (await createApiKey(server.services.store.keys, 'alice')).key;
      const q = '{ assistants { edges { node { id } } } }';
      expect((await post(server.url, alice, q)).status).toBe(200);
      expect((await post(server.url, alice, q)).status).toBe(200);
      const limited = await post(server.url, alice, q);
      expect(limited.status).toBe(429);
      expect(limited.body.errors[0].extensions.retryAfter).toBe(1);
      const deadline = Date.now() + 3000;
      let status = 429;
      while (status === 429 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await post(server.url, alice, q)).status;
      }
      expect(status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  describe('RATE_LIMIT_RUNS=2', () => {
    let server: TestServer;
    let alice: string;
    let bob: string;
    let threadId: string;
    let answer: HttpAnswer;
    beforeAll(async () => {
      fake.reset();
      fake.setDefault({ text: 'ok' });
      server = await startTestServer({ provider: fake, env: { RATE_LIMIT_RUNS: '2' } });
      alice = (await createApiKey(server.services.store.keys, 'alice')).key;
      bob = (await createApiKey(server.services.store.keys, 'bob')).key;
      const created = await post(server.url, alice, 'mutation { createThread(input: { title: "runs" }) { thread { id } run { id } } }');
      expect(created.body.data.createThread.run).toBeNull(); // no run: does not count
      threadId = created.body.data.createThread.thread.id;
      const send = (alias: string, content: string) =>
        `${alias}: sendMessage(input: { threadId: $t, content: "${content}", onActiveRun: ENQUEUE }) { message { id } run { id } }`;
      answer = await post(server.url, alice, `mutation ($t: ID!) { ${send('s1', 'one')} ${send('s2', 'two')} ${send('s3', 'three')} }`, { t: threadId });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('3 aliased sendMessage (ENQUEUE) start 2 runs; the 3rd is RATE_LIMITED with a retry-after hint and stores nothing', async () => {
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toHaveLength(1);
      expect(answer.body.errors[0].path).toEqual(['s3']);
      expect(answer.body.errors[0].extensions.code).toBe('RATE_LIMITED');
      expect(answer.body.errors[0].extensions.retryAfter).toEqual(expect.any(Number));
      expect(answer.body.errors[0].extensions.retryAfter).toBeGreaterThanOrEqual(1);
      expect(await rawSql(server, `select content from messages where thread_id = ? and role = 'USER' order by pos`, [threadId])).toEqual([{ content: 'one' }, { content: 'two' }]);
      expect(await rawSql(server, `select count(*)::int as n from runs where thread_id = ?`, [threadId])).toEqual([{ n: 2 }]);
    });

    it('the answer still carries the two runs that did start (partial data, not data: null)', () => {
      // Otherwise the client cannot know that "one" and "two" were stored, and a retry duplicates them.
      expect(answer.body.data, JSON.stringify(answer.body)).not.toBeNull();
      expect(answer.body.data.s1.run.id).toMatch(/^run_/);
      expect(answer.body.data.s2.run.id).toMatch(/^run_/);
      expect(answer.body.data.s3).toBeNull();
    });

    it('createThread with a USER message starts a run: refused too, nothing stored; bob has his own budget', async () => {
      const countThreads = async () => (await rawSql<{ n: number }>(server, `select count(*)::int as n from threads`))[0]!.n;
      const threadsBefore = await countThreads();
      const more = await post(server.url, alice, 'mutation { createThread(input: { title: "too many", messages: [{ role: USER, content: "hi" }] }) { thread { id } } }');
      expect(more.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(await countThreads()).toBe(threadsBefore);

      for (const content of ['bob 1', 'bob 2']) {
        const res = await post(server.url, bob, 'mutation ($c: String!) { createThread(input: { messages: [{ role: USER, content: $c }] }) { run { id } } }', { c: content });
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data.createThread.run.id).toMatch(/^run_/);
      }
      const third = await post(server.url, bob, 'mutation { createThread(input: { messages: [{ role: USER, content: "bob 3" }] }) { run { id } } }');
      expect(third.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    });
  });
});
