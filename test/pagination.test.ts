import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { codeOf, removeTempDirs, startTestServer, type TestServer } from './helpers.js';
import { CREATE_THREAD } from './operations.js';

/** 25 messages alternating USER/ASSISTANT and ending in ASSISTANT, so no run starts. */
const COUNT = 25;
const contents = Array.from({ length: COUNT }, (_, i) => `message ${String(i + 1).padStart(2, '0')}`);
const roleOf = (i: number) => ((COUNT - 1 - i) % 2 === 0 ? 'ASSISTANT' : 'USER');

interface Page {
  edges: { cursor: string; node: { id: string; content: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

const MESSAGES = /* GraphQL */ `
  query Messages($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
    thread(id: $id) {
      messages(first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { id content } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
`;

describe('pagination', () => {
  let fake: FakeProvider;
  let server: TestServer;
  let threadId: string;
  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake });
    const res = await server.gql(CREATE_THREAD, {
      input: { title: 'Long', messages: contents.map((content, i) => ({ role: roleOf(i), content })) },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.run).toBeNull();
    threadId = res.data.createThread.thread.id;
  });
  afterAll(async () => {
    await server.stop();
    await fake.close();
    removeTempDirs();
  });

  async function page(args: { first?: number; after?: string | null; last?: number; before?: string | null }): Promise<Page> {
    const res = await server.gql(MESSAGES, { id: threadId, ...args });
    expect(res.errors).toBeUndefined();
    return res.data.thread.messages;
  }

  function expectConsistent(p: Page): void {
    expect(p.pageInfo.startCursor).toBe(p.edges[0]?.cursor ?? null);
    expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)?.cursor ?? null);
  }

  it('stores the messages in order, with the roles given, and no run', async () => {
    const all = await page({ first: 100 });
    expect(all.edges.map((e) => e.node.content)).toEqual(contents);
    const roles = await server.gql(`query ($id: ID!) { thread(id: $id) { messages(first: 100) { edges { node { role } } } runs { edges { node { id } } } } }`, { id: threadId });
    expect(roles.data.thread.messages.edges.map((e: any) => e.node.role)).toEqual(contents.map((_, i) => roleOf(i)));
    expect(roles.data.thread.messages.edges.at(-1).node.role).toBe('ASSISTANT');
    expect(roles.data.thread.runs.edges).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });

  it('first/after pages forwards, oldest to newest, until the end', async () => {
    const p1 = await page({ first: 10 });
    expect(p1.edges.map((e) => e.node.content)).toEqual(contents.slice(0, 10));
    expect(p1.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expectConsistent(p1);

    const p2 = await page({ first: 10, after: p1.pageInfo.endCursor });
    expect(p2.edges.map((e) => e.node.content)).toEqual(contents.slice(10, 20));
    expect(p2.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expectConsistent(p2);

    const p3 = await page({ first: 10, after: p2.pageInfo.endCursor });
    expect(p3.edges.map((e) => e.node.content)).toEqual(contents.slice(20));
    expect(p3.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    expectConsistent(p3);

    const past = await page({ first: 10, after: p3.pageInfo.endCursor });
    expect(past.edges).toEqual([]);
    expect(past.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null });

    // Every message exactly once across the pages.
    const seen = [...p1.edges, ...p2.edges, ...p3.edges].map((e) => e.node.id);
    expect(new Set(seen).size).toBe(COUNT);
  });

  it('first exactly fitting the rest says there is no next page', async () => {
    const p1 = await page({ first: 15 });
    const p2 = await page({ first: 10, after: p1.pageInfo.endCursor });
    expect(p2.edges.map((e) => e.node.content)).toEqual(contents.slice(15));
    expect(p2.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
  });

  it('last/before pages backwards; each page stays oldest to newest', async () => {
    const p1 = await page({ last: 10 });
    expect(p1.edges.map((e) => e.node.content)).toEqual(contents.slice(15, 25));
    expect(p1.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    expectConsistent(p1);

    const p2 = await page({ last: 10, before: p1.pageInfo.startCursor });
    expect(p2.edges.map((e) => e.node.content)).toEqual(contents.slice(5, 15));
    expect(p2.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expectConsistent(p2);

    const p3 = await page({ last: 10, before: p2.pageInfo.startCursor });
    expect(p3.edges.map((e) => e.node.content)).toEqual(contents.slice(0, 5));
    expect(p3.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expectConsistent(p3);

    const past = await page({ last: 10, before: p3.pageInfo.startCursor });
    expect(past.edges).toEqual([]);
    expect(past.pageInfo).toMatchObject({ hasPreviousPage: false, startCursor: null, endCursor: null });
  });

  it('cursors from a forward page work backwards and the other way round', async () => {
    const forward = await page({ first: 12 });
    const back = await page({ last: 5, before: forward.pageInfo.endCursor });
    expect(back.edges.map((e) => e.node.content)).toEqual(contents.slice(6, 11));
    const window = await page({ first: 100, after: forward.edges[2]!.cursor, before: forward.edges[6]!.cursor });
    expect(window.edges.map((e) => e.node.content)).toEqual(contents.slice(3, 6));
  });

  it('without first or last a page has a bounded default size and says there is more', async () => {
    const p = await page({});
    expect(p.edges.length).toBeGreaterThan(0);
    expect(p.edges.length).toBeLessThan(COUNT);
    expect(p.edges.map((e) => e.node.content)).toEqual(contents.slice(0, p.edges.length));
    expect(p.pageInfo.hasNextPage).toBe(true);
  });

  it('first or last over 100, negative sizes and garbage cursors are BAD_USER_INPUT naming the argument', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ first: 101 }, 'first'],
      [{ first: -1 }, 'first'],
      [{ last: 1000 }, 'last'],
      [{ first: 5, after: 'garbage' }, 'after'],
      [{ last: 5, before: 'not-a-cursor!' }, 'before'],
      [{ first: 5, after: Buffer.from('hello').toString('base64url') }, 'after'],
    ];
    for (const [args, argument] of cases) {
      const res = await server.gql(MESSAGES, { id: threadId, ...args });
      expect(codeOf(res), JSON.stringify(args)).toBe('BAD_USER_INPUT');
      expect(res.errors![0]!.message).toContain(argument);
      expect(res.data?.thread ?? null).toBeNull();
    }
    const ok = await page({ first: 100 });
    expect(ok.edges).toHaveLength(COUNT);
  });

  it('threads paginate newest first with first/after and last/before', async () => {
    const tag = randomUUID();
    const created: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await server.gql(
        `mutation ($m: JSONObject) { createThread(input: { metadata: $m }) { thread { id } } }`,
        { m: { tag } },
      );
      created.push(res.data.createThread.thread.id);
    }
    const newestFirst = [...created].reverse();
    const THREADS = `query ($m: JSONObject, $first: Int, $after: String, $last: Int, $before: String) {
      threads(metadata: $m, first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }`;
    const q = async (args: Record<string, unknown>): Promise<Page> => {
      const res = await server.gql(THREADS, { m: { tag }, ...args });
      expect(res.errors).toBeUndefined();
      return res.data.threads;
    };

    const p1 = await q({ first: 3 });
    expect(p1.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(0, 3));
    expect(p1.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const p2 = await q({ first: 3, after: p1.pageInfo.endCursor });
    expect(p2.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(3, 6));
    expect(p2.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const p3 = await q({ first: 3, after: p2.pageInfo.endCursor });
    expect(p3.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(6));
    expect(p3.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });

    const b1 = await q({ last: 3 });
    expect(b1.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(4));
    expect(b1.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const b2 = await q({ last: 3, before: b1.pageInfo.startCursor });
    expect(b2.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(1, 4));
    expect(b2.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const b3 = await q({ last: 3, before: b2.pageInfo.startCursor });
    expect(b3.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(0, 1));
    expect(b3.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });

    const bad = await server.gql(THREADS, { m: { tag }, first: 101 });
    expect(codeOf(bad)).toBe('BAD_USER_INPUT');
    expect(bad.errors![0]!.message).toContain('first');
  });
});
