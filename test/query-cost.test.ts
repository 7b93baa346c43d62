import { parse, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { costCheck, operationCost, type CostArgs } from '../src/query-cost.js';
import { schema } from '../src/schema/index.js';

/**
 * The cost check remembers passing costs per document and the values of the variables the
 * cost depends on (page sizes, directive conditions). Every answer must be the one a fresh
 * computation gives; refusals are computed each time.
 */

const PAGE = parse(/* GraphQL */ `
  query Page($id: ID!, $n: Int, $full: Boolean!) {
    thread(id: $id) {
      messages(last: $n) { edges { node { id content } } }
      runs(first: 100) @include(if: $full) { edges { node { id status model } } }
      ...More
    }
  }
  query Other($id: ID!) { thread(id: $id) { messages(last: 100) { edges { node { id } } } } }
  fragment More on Thread { assistant { id } runs(last: $n) { edges { node { id } } } }
`);

const args = (document: DocumentNode, variableValues: unknown, operationName?: string): CostArgs => ({ schema, document, variableValues, operationName });
const cost = (variables: Record<string, unknown>, operationName = 'Page') => operationCost(schema, PAGE, variables, operationName);
// A limit between a small page and the largest one: some variants pass, others are refused.
const MAX = Math.floor((cost({ id: 'a', n: 5, full: false }) + cost({ id: 'a', n: 100, full: false })) / 2);

/** What a check without memory answers (the slow path, every time). */
const fresh = (a: CostArgs) => answer(costCheck(MAX)(a));
const answer = (error: ReturnType<ReturnType<typeof costCheck>>) => (error ? { message: error.message, extensions: error.extensions } : null);

describe('the cost check remembers passing costs', () => {
  it('answers exactly as a fresh computation does, for every variant, in any order', () => {
    let computed = 0;
    const check = costCheck(MAX, (...a) => (computed++, operationCost(...a)));
    const variants: CostArgs[] = [
      args(PAGE, { id: 'a', n: 5, full: false }, 'Page'),
      args(PAGE, { id: 'b', n: 5, full: false }, 'Page'), // another thread, the same cost
      args(PAGE, { id: 'a', n: 100, full: false }, 'Page'), // a bigger page (also in the fragment): refused
      args(PAGE, { id: 'a', n: 5, full: true }, 'Page'), // the directive adds a connection of 100: refused
      args(PAGE, { id: 'a', n: null, full: false }, 'Page'), // null: the default page size
      args(PAGE, { id: 'a', full: false }, 'Page'), // absent: the same default, remembered apart
      args(PAGE, { id: 'a', n: 'x', full: false }, 'Page'), // does not coerce: no refusal (execution reports it)
      args(PAGE, { n: 5, full: false }, 'Page'), // $id missing: the same
      args(PAGE, { id: 'a' }, 'Other'), // the other operation of the document
      args(PAGE, undefined, 'Other'),
    ];
    const expected = variants.map(fresh);
    expect(expected.filter((e) => e !== null).length, 'some variants are refused').toBeGreaterThanOrEqual(2);
    expect(expected.filter((e) => e === null).length, 'some pass').toBeGreaterThanOrEqual(4);
    for (let round = 0; round < 3; round++) {
      const order = round === 1 ? [...variants].reverse() : variants;
      const got = order.map((a) => answer(check(a)));
      expect(got).toEqual(round === 1 ? [...expected].reverse() : expected);
    }
    // Computed: each passing variant once (n: 5, null, absent; Other), each refusal and the
    // variables that do not coerce every round (3 × 3); the rest share a remembered key (another
    // id; $id missing; Other without variables).
    expect(computed).toBe(4 + 3 * 3);
  });

  it('the refusal names the cost and the limit, every time it is asked', () => {
    const check = costCheck(MAX);
    const big = args(PAGE, { id: 'a', n: 100, full: true }, 'Page');
    for (let i = 0; i < 3; i++) {
      expect(check(big)?.extensions).toEqual({ code: 'BAD_USER_INPUT', cost: cost({ id: 'a', n: 100, full: true }), maxCost: MAX });
    }
  });

  it('another document with the same text is its own entry (documents are keys, not strings)', () => {
    let computed = 0;
    const check = costCheck(MAX, (...a) => (computed++, operationCost(...a)));
    const text = 'query ($id: ID!) { thread(id: $id) { messages(last: 20) { edges { node { id } } } } }';
    const first = parse(text);
    expect(check(args(first, { id: 'a' }))).toBeNull();
    expect(check(args(first, { id: 'b' }))).toBeNull();
    expect(computed).toBe(1);
    expect(check(args(parse(text), { id: 'a' }))).toBeNull();
    expect(computed).toBe(2);
  });
});
