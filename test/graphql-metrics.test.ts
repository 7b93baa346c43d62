import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { GraphQLError } from 'graphql';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { useGraphQLMetrics } from '../src/ops/graphql-metrics.js';

/**
 * src/ops/graphql-metrics.ts reports yoga's GraphQL timings in place of
 * @graphql-yoga/plugin-prometheus (configured as threadql configured it): the same requests give
 * the same series — names, help, types, label sets, counts — on both.
 */

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Query { hello: String, fails: String, item: Item }
    type Item { broken: String, fine: String }
    type Mutation { touch: String }
    type Subscription { ticks(fail: Boolean): Int }
  `,
  resolvers: {
    Query: { hello: () => 'world', fails: () => { throw new GraphQLError('no', { extensions: { code: 'NOT_FOUND' } }); }, item: () => ({}) },
    Item: { broken: () => { throw new Error('boom'); }, fine: () => 'ok' },
    Mutation: { touch: () => 'touched' },
    Subscription: {
      ticks: {
        async *subscribe(_: unknown, { fail }: { fail?: boolean }) {
          yield { ticks: 1 };
          if (fail) throw new GraphQLError('stream broke');
          yield { ticks: 2 };
        },
      },
    },
  },
});

const theirs = (registry: Registry) =>
  usePrometheus({
    registry,
    endpoint: false,
    labels: { operationName: false, url: false },
    metrics: {
      graphql_envelop_request_duration: true,
      graphql_envelop_error_result: true,
      graphql_yoga_http_duration: true,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_request: false,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_execute_resolver: false,
      graphql_envelop_schema_change: false,
    },
  }) as Plugin;

/** The same requests, in order, against a yoga with the given metrics plugin; its registry's text. */
async function scrapeAfterRequests(plugin: (registry: Registry) => Plugin, extra: unknown[] = []): Promise<string> {
  const registry = new Registry();
  const yoga = createYoga({ schema, plugins: [plugin(registry)], logging: false, maskedErrors: false });
  const post = async (body: unknown, accept = 'application/json') => {
    const res = await yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });
    await res.text();
  };
  await post({ query: '{ hello }' });
  await post({ query: '{ hello }' });
  await post({ query: 'query Named { hello }' });
  await post({ query: '{ fails item { broken fine } }' });
  await post({ query: 'mutation { touch }' });
  await post({ query: '{ nope }' }); // validation
  await post({ query: '{ hello ' }); // parse
  await post({ query: 'query ($n: Int!) { hello }', variables: { n: 'x' } }); // variables
  await post({ query: 'subscription { ticks }' }, 'text/event-stream');
  await post({ query: 'subscription { ticks(fail: true) }' }, 'text/event-stream');
  const res = await yoga.fetch('http://localhost/graphql?query=%7Bhello%7D', { headers: { accept: 'application/json' } });
  await res.text();
  for (const body of extra) await post(body);
  return registry.metrics();
}

/** What does not depend on timing: every line but the sums, and bucket lines without their counts. */
function timingFree(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line && !/_sum[{ ]/.test(line))
    .map((line) => (/_bucket\{/.test(line) ? line.replace(/ \d+$/, '') : line))
    .sort();
}

describe('GraphQL metrics without @graphql-yoga/plugin-prometheus', () => {
  it('the same requests give the same series, label sets and counts', async () => {
    const expected = timingFree(await scrapeAfterRequests(theirs));
    const actual = timingFree(await scrapeAfterRequests(useGraphQLMetrics));
    expect(expected.some((l) => l.startsWith('graphql_envelop_error_result{') && l.includes('phase="parse"'))).toBe(true);
    expect(expected.some((l) => l.startsWith('graphql_envelop_error_result{') && l.includes('path="item.broken"'))).toBe(true);
    expect(expected.some((l) => l.startsWith('graphql_yoga_http_duration_count{') && l.includes('operationType="subscription"'))).toBe(true);
    expect(actual).toEqual(expected);
  });

  it('an operation is timed under its own type, not that of the first definition of its document', async () => {
    // The plugin labelled graphql_envelop_request_duration with the document's first definition
    // (its HTTP histogram already used the executed operation); here both use the executed one.
    const text = await scrapeAfterRequests(useGraphQLMetrics, [{ query: 'query A { hello } mutation B { touch }', operationName: 'B' }]);
    const count = (type: string) => Number(/ (\d+)$/.exec(text.split('\n').find((l) => l.startsWith(`graphql_envelop_request_duration_count{operationType="${type}"}`))!)![1]);
    expect(count('mutation')).toBe(2);
    expect(count('query')).toBe(5);
  });
});
