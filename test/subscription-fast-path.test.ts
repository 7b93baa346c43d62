import { parse } from 'graphql';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { createYoga, type Plugin } from 'graphql-yoga';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UnauthenticatedError } from '../src/errors.js';
import { createErrorMasker } from '../src/graphql-errors.js';
import { threadEventTypeName } from '../src/schema/events.js';
import { schema } from '../src/schema/index.js';
import type { MessageRow, RunRow } from '../src/store/types.js';
import { useFastSubscriptionEvents } from '../src/subscription-events/fast-events.js';
import { EventRelay } from '../src/subscription-events/relay.js';
import { EventStreamBody, useLeanEventStreams } from '../src/subscription-events/sse-body.js';
import { planEvents } from '../src/subscription-events/selection-plan.js';

/**
 * The fast path of subscriptions (src/subscription-events/) against the executor it stands in
 * for: the same operations over the same events, through two yoga servers that differ only in
 * the plugin, must give the same bytes on the SSE wire and the same results to graphql-ws —
 * the events it projects, and those it leaves to the executor (nested objects, values it cannot
 * vouch for, errors, the end).
 */

const T = 'thread_1';
const run: RunRow = {
  id: 'run_1', threadId: T, assistantId: null, status: 'IN_PROGRESS', model: 'm', instructions: null, replyMessageId: null,
  errorCode: null, errorMessage: null, incompleteReason: null, inputTokens: null, outputTokens: null, totalTokens: null,
  toolRounds: [], tools: null, expiresAt: null, createdAt: new Date(0), startedAt: new Date(1), completedAt: null,
} as unknown as RunRow;
const message = {
  id: 'msg_1', threadId: T, runId: 'run_1', role: 'ASSISTANT', content: 'Hi "there"', status: 'COMPLETED', refusal: null, metadata: {}, createdAt: new Date(2),
} as unknown as MessageRow;
const delta = (seq: number, text: string) => ({ kind: 'MESSAGE_DELTA', seq, threadId: T, runId: 'run_1', messageId: 'msg_1', delta: text });

/** Deltas with text JSON and SSE must escape, a run status (nested object) and a message snapshot between them. */
const EVENTS: unknown[] = [
  { kind: 'RUN_STATUS', seq: 1, threadId: T, run },
  delta(2, 'héllo "wörld"\n\n'),
  delta(3, '👋🏽 \u2028 \\ </script>'),
  { kind: 'MESSAGE', seq: 4, threadId: T, message },
  delta(5, ''),
  { kind: 'RUN_STATUS', seq: 6, threadId: T, run: { ...run, status: 'COMPLETED', completedAt: new Date(3) } },
];

/** Values no projector may pass on: the executor's coercion (or its error) must answer them. */
const ODD_EVENTS: unknown[] = [
  { ...delta(7, 'x'), delta: null },
  { ...delta(8, 'x'), seq: '8' },
  { ...delta(9, 'x'), seq: 2 ** 31 },
  { ...delta(10, 'x'), delta: 42 },
  { ...delta(11, 'x'), delta: () => 'called by the default resolver' },
  { ...delta(12, 'x'), runId: 12 },
  { ...delta(13, 'x'), kind: 'NOT_A_KIND' },
  delta(14, 'last'),
];

/**
 * `executed`: how many of EVENTS + ODD_EVENTS the executor answers on the fast path (the rest are
 * projected); null: the fast path leaves the whole operation to the executor.
 */
const OPERATIONS: { name: string; query: string; variables?: Record<string, unknown>; executed: number | null }[] = [
  {
    name: 'the bench selection (deltas projected, run statuses executed)',
    query: `subscription ($t: ID!) { threadEvents(threadId: $t) { __typename ... on MessageDeltaEvent { delta } ... on RunStatusEvent { run { status } } } }`,
    // Two run statuses (nested), and the odd deltas but the ones whose odd field is not selected (seq, runId) and the last.
    executed: 2 + 4,
  },
  {
    name: 'aliases, interface fields and __typename under an alias',
    query: `subscription ($t: ID!) { ev: threadEvents(threadId: $t) { kind: __typename s: seq t: threadId ... on MessageDeltaEvent { text: delta runId messageId } } }`,
    // Every odd event but the last.
    executed: 7,
  },
  {
    name: 'named fragments, repeated and merged fields',
    query: `
      fragment D on MessageDeltaEvent { delta seq }
      fragment E on ThreadEvent { threadId seq ...D }
      subscription Sub($t: ID!) { threadEvents(threadId: $t) { ...D seq __typename ...E ... on ThreadEvent { ...D } delta2: seq } }`,
    // The odd events but runId's and the last.
    executed: 6,
  },
  {
    name: '@include and @skip, by literal and by variable, on fields and fragments',
    query: `
      fragment M on MessageDeltaEvent { messageId }
      subscription ($t: ID!, $yes: Boolean!, $no: Boolean = false) { threadEvents(threadId: $t) {
        seq @skip(if: true) threadId @include(if: $yes) __typename @include(if: $no)
        ... on MessageDeltaEvent @include(if: $yes) { delta @skip(if: $no) runId @skip(if: $yes) }
        ... @skip(if: $yes) { seq }
        ...M @include(if: $no)
        ...M @skip(if: $no)
      } }`,
    variables: { yes: true },
    // threadId, delta and messageId selected: the odd deltas but seq's, 2 ** 31's, runId's and the last.
    executed: 4,
  },
  {
    name: 'message snapshots with nested fields (executed)',
    query: `subscription ($t: ID!) { threadEvents(threadId: $t) { seq ... on MessageEvent { message { id content createdAt } } ... on MessageDeltaEvent { delta } } }`,
    // The message snapshot, and the odd events but runId's and the last; run statuses select only seq.
    executed: 1 + 6,
  },
  {
    name: 'only __typename',
    query: `subscription ($t: ID!) { threadEvents(threadId: $t) { __typename } }`,
    // Only the unknown kind.
    executed: 1,
  },
  {
    name: 'nested objects only (deltas select nothing: projected as {})',
    query: `subscription ($t: ID!) { threadEvents(threadId: $t) { ... on RunStatusEvent { run { id status } } ... on MessageEvent { message { id } } } }`,
    // Deltas select nothing (an empty object each): projected; the rest executed.
    executed: 3 + 1,
  },
  {
    name: '@defer in the operation (the executor serves all of it)',
    query: `subscription ($t: ID!) { threadEvents(threadId: $t) { seq ... on MessageDeltaEvent @defer { delta } } }`,
    executed: null,
  },
  {
    name: 'runEvents with a root alias',
    query: `subscription ($r: ID!) { r: runEvents(runId: $r) { __typename seq ... on MessageDeltaEvent { delta } } }`,
    variables: { r: 'run_1' },
    executed: 6,
  },
];

/** How a scripted stream ends once its events are read. */
type End = 'complete' | 'revoked' | 'crash';

/** A subscription's source, as the events service hands it out (with what endOnRevoke uses). */
class ScriptedStream implements AsyncIterableIterator<unknown> {
  private readonly ends: (() => void)[] = [];
  private failure: unknown = null;
  private at = 0;
  returned = false;

  constructor(
    private readonly events: unknown[],
    private readonly end: End,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    await Promise.resolve();
    if (this.at < this.events.length) return { value: this.events[this.at++], done: false };
    if (this.end === 'revoked') this.fail(new UnauthenticatedError('The API key was revoked.'));
    if (this.end === 'crash') this.failure ??= new Error('the database went away (an internal error: masked)');
    for (const end of this.ends.splice(0)) end();
    if (this.failure) throw this.failure;
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<unknown>> {
    this.returned = true;
    return { value: undefined, done: true };
  }

  onEnd(cleanup: () => void): void {
    this.ends.push(cleanup);
  }

  fail(error: unknown): void {
    this.failure ??= error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function server(fast: boolean, events: unknown[], end: End) {
  const streams: ScriptedStream[] = [];
  const open = async () => {
    const stream = new ScriptedStream(events, end);
    streams.push(stream);
    return stream;
  };
  const yoga = createYoga({
    schema,
    logging: false,
    maskedErrors: { maskError: createErrorMasker(() => {}, { bodyLimit: 1 << 20 }) },
    context: () => ({ services: { events: { threadEvents: open, runEvents: open }, access: { trackSession: () => () => {} } }, owner: 'o', keyId: 'k' }),
    plugins: [useDeferStream(), ...(fast ? [useFastSubscriptionEvents(threadEventTypeName), useLeanEventStreams()] : [])] as Plugin[],
  });
  return { yoga, streams };
}

/** The SSE response's status and headers, then its frames, keep-alive comments left out (they follow the clock, not the events). */
async function sseFrames(fast: boolean, query: string, variables: Record<string, unknown>, events: unknown[], end: End): Promise<string[]> {
  const { yoga } = server(fast, events, end);
  const res = await yoga.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.text();
  const head = `${res.status} ${JSON.stringify([...res.headers].sort())}`;
  return [head, ...body.split('\n\n').filter((frame) => frame !== ':' && frame !== '')];
}

/** What graphql-ws sends: the enveloped subscribe's results, as JSON (src/app.ts calls it the same way). */
async function wsPayloads(fast: boolean, query: string, variables: Record<string, unknown>, events: unknown[], end: End) {
  const { yoga, streams } = server(fast, events, end);
  const { subscribe, contextFactory } = yoga.getEnveloped({ request: new Request('http://localhost/graphql') });
  const result = await subscribe({ schema, document: parse(query), variableValues: variables, contextValue: await contextFactory() });
  const payloads: string[] = [];
  let error: unknown = null;
  try {
    for await (const r of result as AsyncIterable<unknown>) payloads.push(JSON.stringify(r));
  } catch (e) {
    error = e;
  }
  return { result, payloads, error: error && JSON.stringify({ message: (error as Error).message, ...(error as object) }), returned: streams.map((s) => s.returned) };
}

describe('subscription fast path', () => {
  afterEach(() => vi.restoreAllMocks());

  describe.each(OPERATIONS)('$name', ({ query, variables = {}, executed }) => {
    const vars = { t: T, ...variables };
    const events = [...EVENTS, ...ODD_EVENTS];

    it.each(['complete', 'revoked', 'crash'] as const)('SSE bytes are the executor\'s (stream ends: %s)', async (end) => {
      const slow = await sseFrames(false, query, vars, events, end);
      const handed = vi.spyOn(EventRelay.prototype, 'hand');
      const lean = vi.spyOn(EventStreamBody.prototype, '_read');
      const fast = await sseFrames(true, query, vars, events, end);
      expect(fast).toEqual(slow);
      // The lean SSE body wrote them (yoga's processor wrote the slow path's).
      expect(lean).toHaveBeenCalled();
      // The executor answered what the plan does not cover, and the end; it projected the rest.
      expect(handed).toHaveBeenCalledTimes(executed === null ? 0 : executed + 1);
      if (executed === null) return;
      expect(slow[0]).toMatch(/^200 .*text\/event-stream/);
      expect(slow.filter((f) => f.startsWith('event: next')).length).toBe(events.length + (end === 'complete' ? 0 : 1));
      if (end === 'revoked') expect(slow.at(-2)).toContain('"code":"UNAUTHENTICATED"');
      if (end === 'crash') expect(slow.at(-2)).toContain('Unexpected error.');
    });

    it('graphql-ws gets the executor\'s results', async () => {
      const slow = await wsPayloads(false, query, vars, events, 'revoked');
      const handed = vi.spyOn(EventRelay.prototype, 'hand');
      const fast = await wsPayloads(true, query, vars, events, 'revoked');
      expect(fast.payloads).toEqual(slow.payloads);
      expect(fast.error).toEqual(slow.error);
      expect(fast.returned).toEqual(slow.returned);
      expect(handed).toHaveBeenCalledTimes(executed === null ? 0 : executed + 1);
    });
  });

  it('projects the leaf selections and leaves nested ones to the executor', () => {
    const plan = planEvents({ schema, document: parse(OPERATIONS[0]!.query), variableValues: { t: T } })!;
    expect(plan.key).toBe('threadEvents');
    expect([...plan.byType.keys()].sort()).toEqual(['MessageDeltaEvent', 'MessageEvent']);
    expect(plan.byType.get('MessageDeltaEvent')!(delta(2, 'a'))).toEqual({ __typename: 'MessageDeltaEvent', delta: 'a' });
    // A value it cannot vouch for: the executor answers.
    expect(plan.byType.get('MessageDeltaEvent')!({ ...delta(2, 'a'), delta: null })).toBeUndefined();
    // Not a relayed subscription field, or a query: no plan.
    expect(planEvents({ schema, document: parse('{ __typename }') })).toBeNull();
  });

  it('a consumer that stops reading ends the source through the executor, as before', async () => {
    for (const fast of [false, true]) {
      const { yoga, streams } = server(fast, [...EVENTS], 'complete');
      const { subscribe, contextFactory } = yoga.getEnveloped({ request: new Request('http://localhost/graphql') });
      const result = (await subscribe({ schema, document: parse(OPERATIONS[0]!.query), variableValues: { t: T }, contextValue: await contextFactory() })) as AsyncIterableIterator<unknown>;
      expect((await result.next()).done).toBe(false);
      expect((await result.next()).done).toBe(false);
      await result.return!();
      expect(streams[0]!.returned).toBe(true);
      expect(await result.next()).toEqual({ value: undefined, done: true });
    }
  });

  it('next() calls made before the previous one settled are answered in order, as by the executor', async () => {
    const answers: string[][] = [];
    for (const fast of [false, true]) {
      const { yoga } = server(fast, [...EVENTS, ...ODD_EVENTS], 'complete');
      const { subscribe, contextFactory } = yoga.getEnveloped({ request: new Request('http://localhost/graphql') });
      const result = (await subscribe({ schema, document: parse(OPERATIONS[0]!.query), variableValues: { t: T }, contextValue: await contextFactory() })) as AsyncIterableIterator<unknown>;
      // Every event and the end (the executor's iterator leaves a call past the end unanswered; the fast path answers it done).
      const steps = await Promise.all(Array.from({ length: EVENTS.length + ODD_EVENTS.length + 1 }, () => result.next()));
      answers.push(steps.map((step) => JSON.stringify(step)));
    }
    expect(answers[1]).toEqual(answers[0]);
  });
});
