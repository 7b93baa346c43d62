import { readFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.js';
import { removeTempDirs, startTestServer, type TestServer } from './helpers.js';

describe('the committed schema.graphql', () => {
  it('equals the printed schema', () => {
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    // scripts/print-schema.ts writes printSchema(schema) followed by one newline.
    expect(committed, 'schema.graphql is stale: run `npm run schema:print` and commit the result').toBe(printSchema(schema) + '\n');
  });

  it('contains the contract\'s operations and types', () => {
    const printed = printSchema(schema);
    for (const name of ['createThread', 'sendMessage', 'cancelRun', 'runEvents', 'threadEvents', 'interface Node', 'enum OnActiveRun']) {
      expect(printed).toContain(name);
    }
  });
});

describe('GraphiQL', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.stop();
    removeTempDirs();
  });

  it('GET /graphql from a browser returns the GraphiQL page with the example operation', async () => {
    const res = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html.toLowerCase()).toContain('graphiql');
    expect(html).toContain('createThread');
  });

  it('GET /graphql with a query (not asking for HTML) answers the query', async () => {
    const url = `${server.url}?query=${encodeURIComponent('{ threads(first: 1) { edges { node { id } } } }')}`;
    const res = await fetch(url, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { threads: { edges: [] } } });
  });

  it('GET /graphql refuses a mutation (queries only over GET)', async () => {
    const url = `${server.url}?query=${encodeURIComponent('mutation { createThread(input: { title: "via GET" }) { thread { id } } }')}`;
    const res = await fetch(url, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(405);
    await res.text();
    const listed = await server.gql(`{ threads(first: 10) { edges { node { id } } } }`);
    expect(listed.data.threads.edges).toEqual([]);
  });
});
