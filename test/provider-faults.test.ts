import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeBehaviour, type FakeProvider } from './fake-provider.js';
import { endedRun, NO_RATE_LIMIT, newThread, runOf, sendMessage, startTestServer, TEST_API_KEY, threadOf, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';

/**
 * Every way a provider can fail ends the run in the status and error code the contract names,
 * keeps the user message and any partial reply, retries only before output, and leaves the
 * thread usable. Both LLM_API values, through the real openai SDK against the fake provider.
 */

const DEFAULT_REPLY = 'Hello from the fake provider.';
const CHUNKS = ['Alpha ', 'beta ', 'gamma ', 'delta.'];

interface Expected {
  status: 'FAILED' | 'INCOMPLETE';
  code: string | null;
  /** Part of Run.error.message. */
  message?: string;
  incompleteReason?: string | null;
  /** HTTP requests the provider received for the run (retries included). */
  requests: number;
  reply: { content: string; status: 'INCOMPLETE' } | null;
}

interface FaultCase {
  name: string;
  behaviour: FakeBehaviour;
  /** The behaviour answers every request (the fake's default), not just the first. */
  always?: boolean;
  apis?: ('responses' | 'chat')[];
  expected: Expected;
}

const FAULTS: FaultCase[] = [
  {
    name: 'HTTP 500 on every attempt: FAILED PROVIDER_ERROR after 3 requests (2 SDK retries)',
    behaviour: { status: 500 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_ERROR', requests: 3, reply: null },
  },
  {
    name: 'HTTP 429 on every attempt: FAILED PROVIDER_RATE_LIMITED after 3 requests',
    behaviour: { status: 429 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_RATE_LIMITED', requests: 3, reply: null },
  },
  {
    name: 'HTTP 401: FAILED PROVIDER_AUTH after 1 request (no retry)',
    behaviour: { status: 401 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_AUTH', requests: 1, reply: null },
  },
  {
    name: 'HTTP 403: FAILED PROVIDER_AUTH after 1 request (no retry)',
    behaviour: { status: 403 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_AUTH', requests: 1, reply: null },
  },
  {
    name: 'connection cut after output started: FAILED PROVIDER_ERROR, partial reply kept, no retry',
    behaviour: { chunks: CHUNKS, cutAfter: 2 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_ERROR', requests: 1, reply: { content: 'Alpha beta ', status: 'INCOMPLETE' } },
  },
  {
    name: 'stream stalls after output started: FAILED PROVIDER_TIMEOUT after the idle timeout, partial reply kept',
    behaviour: { chunks: CHUNKS, stallAfter: 2 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_TIMEOUT', requests: 1, reply: { content: 'Alpha beta ', status: 'INCOMPLETE' } },
  },
  {
    name: 'stream stalls before any output: FAILED PROVIDER_TIMEOUT, no reply',
    behaviour: { chunks: CHUNKS, stallAfter: 0 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_TIMEOUT', requests: 1, reply: null },
  },
  {
    name: 'in-stream error event: FAILED PROVIDER_ERROR with the provider message',
    behaviour: { chunks: CHUNKS, errorEventAfter: 1, errorMessage: 'The model exploded mid-sentence.' },
    always: true,
    expected: {
      status: 'FAILED',
      code: 'PROVIDER_ERROR',
      message: 'The model exploded mid-sentence.',
      requests: 1,
      reply: { content: 'Alpha ', status: 'INCOMPLETE' },
    },
  },
  {
    name: 'in-stream `error` event (Responses): FAILED PROVIDER_ERROR with the provider message',
    behaviour: { chunks: CHUNKS, errorEventAfter: 3, errorEvent: 'error', errorMessage: 'Overloaded, try later.' },
    always: true,
    apis: ['responses'],
    expected: {
      status: 'FAILED',
      code: 'PROVIDER_ERROR',
      message: 'Overloaded, try later.',
      requests: 1,
      reply: { content: 'Alpha beta gamma ', status: 'INCOMPLETE' },
    },
  },
  {
    name: 'malformed data mid-stream: FAILED PROVIDER_ERROR, partial reply kept',
    behaviour: { chunks: CHUNKS, malformedAfter: 1 },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_ERROR', requests: 1, reply: { content: 'Alpha ', status: 'INCOMPLETE' } },
  },
  {
    name: 'stream ends without its final event: FAILED (not COMPLETED), text kept INCOMPLETE',
    behaviour: { chunks: CHUNKS, omitFinal: true },
    always: true,
    expected: { status: 'FAILED', code: 'PROVIDER_ERROR', requests: 1, reply: { content: CHUNKS.join(''), status: 'INCOMPLETE' } },
  },
  {
    name: "finish reason 'length': run INCOMPLETE (not FAILED), reply INCOMPLETE",
    behaviour: { chunks: CHUNKS, finishReason: 'length' },
    expected: {
      status: 'INCOMPLETE',
      code: null,
      incompleteReason: 'length',
      requests: 1,
      reply: { content: CHUNKS.join(''), status: 'INCOMPLETE' },
    },
  },
  {
    name: "finish reason 'content_filter': run INCOMPLETE (not FAILED), reply INCOMPLETE",
    behaviour: { chunks: CHUNKS, finishReason: 'content_filter' },
    expected: {
      status: 'INCOMPLETE',
      code: null,
      incompleteReason: 'content_filter',
      requests: 1,
      reply: { content: CHUNKS.join(''), status: 'INCOMPLETE' },
    },
  },
];

describe.each(['responses', 'chat'] as const)('provider faults (LLM_API=%s)', (llmApi) => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ llmApi, env: { ...NO_RATE_LIMIT, STREAM_IDLE_TIMEOUT_MS: '300' } })));
  afterAll(() => stopWithFakeProvider(server, fake));
  beforeEach(() => fake.reset());

  /** Sends a message and waits for its run to end; returns the run as GraphQL shows it. */
  async function sendAndWait(threadId: string, content: string, on: TestServer = server) {
    const { run } = await sendMessage(on, { threadId, content });
    return endedRun(on, run.id);
  }

  /** After a fault: the user message is stored, nothing is left active, and the next message completes normally. */
  async function expectThreadUsable(threadId: string, faultedContent: string, on: TestServer = server) {
    const after = await threadOf(on, threadId);
    expect(after.activeRun).toBeNull();
    expect(after.messages[0]).toMatchObject({ role: 'USER', content: faultedContent, status: 'COMPLETED' });
    expect(after.messages.some((m) => m.status === 'IN_PROGRESS')).toBe(false);

    fake.setDefault({});
    const next = await sendAndWait(threadId, 'Are you better now?', on);
    expect(next).toMatchObject({ status: 'COMPLETED', error: null, reply: { content: DEFAULT_REPLY, status: 'COMPLETED' } });
    const last = fake.requests.at(-1)!.body;
    expect(JSON.stringify(last.input ?? last.messages)).toContain('Are you better now?');
  }

  for (const fault of FAULTS.filter((f) => !f.apis || f.apis.includes(llmApi))) {
    it(fault.name, async () => {
      if (fault.always) fake.setDefault(fault.behaviour);
      else fake.enqueue(fault.behaviour);
      const threadId = await newThread(server);
      const content = `Trigger: ${fault.name}`;
      const run = await sendAndWait(threadId, content);

      const { expected } = fault;
      expect(run.status).toBe(expected.status);
      if (expected.code === null) expect(run.error).toBeNull();
      else expect(run.error?.code).toBe(expected.code);
      if (expected.message) expect(run.error.message).toContain(expected.message);
      if (expected.code) expect(run.error.message).not.toBe('');
      if (expected.incompleteReason !== undefined) expect(run.incompleteReason).toBe(expected.incompleteReason);
      expect(fake.requests).toHaveLength(expected.requests);
      if (expected.reply === null) expect(run.reply).toBeNull();
      else expect(run.reply).toMatchObject(expected.reply);

      await expectThreadUsable(threadId, content);
      expect(fake.requests).toHaveLength(expected.requests + 1);
    });
  }

  it('HTTP 429 with Retry-After, then success: the SDK waits as told and the run COMPLETES (2 requests)', async () => {
    fake.enqueue({ status: 429, retryAfter: '1' }, { text: 'Worth the wait.' });
    const threadId = await newThread(server);
    const t0 = Date.now();
    const run = await sendAndWait(threadId, 'Please answer');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(run).toMatchObject({ status: 'COMPLETED', error: null, reply: { content: 'Worth the wait.', status: 'COMPLETED' } });
    expect(fake.requests).toHaveLength(2);
    // The retry is the same request again.
    expect(fake.requests[1]!.body).toEqual(fake.requests[0]!.body);
  });

  it('HTTP 429 twice, then success: COMPLETED after 3 requests', async () => {
    fake.enqueue({ status: 429 }, { status: 503 }, { text: 'Third time lucky.' });
    const threadId = await newThread(server);
    const run = await sendAndWait(threadId, 'Please answer');
    expect(run).toMatchObject({ status: 'COMPLETED', reply: { content: 'Third time lucky.' } });
    expect(fake.requests).toHaveLength(3);
  });

  it('HTTP 400 is not retried: FAILED PROVIDER_ERROR with the provider message', async () => {
    fake.setDefault({ status: 400, errorMessage: 'Unsupported parameter: temperature.' });
    const threadId = await newThread(server);
    const run = await sendAndWait(threadId, 'Bad request please');
    expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_ERROR' }, reply: null });
    expect(run.error.message).toContain('Unsupported parameter: temperature.');
    expect(fake.requests).toHaveLength(1);
    await expectThreadUsable(threadId, 'Bad request please');
  });

  it('a provider error that echoes the API key does not leak it into Run.error.message', async () => {
    fake.setDefault({ status: 401, errorMessage: `Incorrect API key provided: ${TEST_API_KEY}. Header was Bearer ${TEST_API_KEY}` });
    const threadId = await newThread(server);
    const run = await sendAndWait(threadId, 'Leak check');
    expect(run.error.code).toBe('PROVIDER_AUTH');
    expect(run.error.message).not.toContain(TEST_API_KEY);
    expect(run.error.message).toContain('Incorrect API key provided');
  });

  it('the idle timeout aborts the stalled provider request', async () => {
    fake.setDefault({ chunks: CHUNKS, stallAfter: 1 });
    const threadId = await newThread(server);
    const t0 = Date.now();
    const run = await sendAndWait(threadId, 'Stall please');
    expect(run.error?.code).toBe('PROVIDER_TIMEOUT');
    // STREAM_IDLE_TIMEOUT_MS=300: well before the 60 s default.
    expect(Date.now() - t0).toBeLessThan(5000);
    await fake.waitForAborted(1);
  });

  describe('with PROVIDER_TIMEOUT_MS=500 (default retries)', () => {
    let bounded: TestServer;
    beforeAll(async () => {
      bounded = await startTestServer({ provider: fake, llmApi, env: { ...NO_RATE_LIMIT, PROVIDER_TIMEOUT_MS: '500' } });
    });
    afterAll(async () => {
      await bounded.stop();
    });

    it('a 429 whose Retry-After is an hour is not waited out: FAILED PROVIDER_RATE_LIMITED promptly', async () => {
      fake.setDefault({ status: 429, retryAfter: '3600' });
      const threadId = await newThread(bounded);
      const runId = (await sendMessage(bounded, { threadId, content: 'Rate limited for an hour' })).run.id;
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        bounded.services.runs.waitForEnd(runId).then(() => 'ended' as const),
        new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 2000))),
      ]);
      clearTimeout(timer);
      if (outcome === 'still running') await bounded.gql(`mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { id } } }`, { id: runId });
      // Otherwise the run sits IN_PROGRESS (and its thread busy) for the hour the provider asked for.
      expect(outcome).toBe('ended');
      const run = await runOf(bounded, runId);
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_RATE_LIMITED' }, reply: null });
    });
  });

  /**
   * PROVIDER_TIMEOUT_MS bounds the whole wait for the provider's headers, retries included. The
   * SDK's own timeout is per attempt: without the overall deadline these runs took 3 × 1500 ms
   * (or 2 × 1500 ms after a quick 500), which the `< 2 × 1500 ms` bounds below rule out.
   */
  describe('with PROVIDER_TIMEOUT_MS=1500 and PROVIDER_MAX_RETRIES=2', () => {
    const TIMEOUT_MS = 1500;
    let budgeted: TestServer;
    beforeAll(async () => {
      budgeted = await startTestServer({
        provider: fake,
        llmApi,
        env: { ...NO_RATE_LIMIT, PROVIDER_TIMEOUT_MS: String(TIMEOUT_MS), PROVIDER_MAX_RETRIES: '2' },
      });
    });
    afterAll(async () => {
      await budgeted.stop();
    });

    it('a provider that never sends headers: FAILED PROVIDER_TIMEOUT within one timeout, retries included', async () => {
      fake.setDefault({ noHeaders: true });
      const threadId = await newThread(budgeted);
      const t0 = Date.now();
      const run = await sendAndWait(threadId, 'Hello, anyone?', budgeted);
      const elapsed = Date.now() - t0;
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_TIMEOUT' }, reply: null });
      expect(run.error.message).toContain(`${TIMEOUT_MS} ms`);
      expect(elapsed).toBeLessThan(2 * TIMEOUT_MS);
      // The hanging request is torn down, not left open at the provider.
      await fake.waitForAborted(fake.requests.length);
      await expectThreadUsable(threadId, 'Hello, anyone?', budgeted);
    });

    it('HTTP 500, then a retry that never sends headers: FAILED PROVIDER_TIMEOUT within one timeout', async () => {
      fake.enqueue({ status: 500 });
      fake.setDefault({ noHeaders: true });
      const threadId = await newThread(budgeted);
      const t0 = Date.now();
      const run = await sendAndWait(threadId, 'Fail, then hang', budgeted);
      const elapsed = Date.now() - t0;
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_TIMEOUT' }, reply: null });
      expect(elapsed).toBeLessThan(2 * TIMEOUT_MS);
      expect(fake.requests.length).toBeGreaterThanOrEqual(2);
      await fake.waitForAborted(fake.requests.length - 1);
    });

    it('a Retry-After longer than what is left of the budget is not waited: FAILED PROVIDER_RATE_LIMITED after 1 request', async () => {
      // Headers after 1000 ms of the 1500: a 1 s Retry-After fits the per-attempt timeout but not the budget left.
      fake.setDefault({ status: 429, retryAfter: '1', delayFirstMs: 1000 });
      const threadId = await newThread(budgeted);
      const run = await sendAndWait(threadId, 'Rate limited late', budgeted);
      // Waiting it out would end PROVIDER_TIMEOUT when the deadline strikes during the SDK's sleep.
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_RATE_LIMITED' }, reply: null });
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe('with PROVIDER_MAX_RETRIES=0 and PROVIDER_TIMEOUT_MS=300', () => {
    let strict: TestServer;
    beforeAll(async () => {
      strict = await startTestServer({
        provider: fake,
        llmApi,
        env: { ...NO_RATE_LIMIT, PROVIDER_MAX_RETRIES: '0', PROVIDER_TIMEOUT_MS: '300', STREAM_IDLE_TIMEOUT_MS: '300' },
      });
    });
    afterAll(async () => {
      await strict.stop();
    });

    it('HTTP 500: FAILED PROVIDER_ERROR after exactly 1 request', async () => {
      fake.setDefault({ status: 500 });
      const threadId = await newThread(strict);
      const run = await sendAndWait(threadId, 'No retries', strict);
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_ERROR' }, reply: null });
      expect(fake.requests).toHaveLength(1);
      await expectThreadUsable(threadId, 'No retries', strict);
    });

    it('HTTP 429: FAILED PROVIDER_RATE_LIMITED after exactly 1 request', async () => {
      fake.setDefault({ status: 429 });
      const threadId = await newThread(strict);
      const run = await sendAndWait(threadId, 'No retries either', strict);
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_RATE_LIMITED' }, reply: null });
      expect(fake.requests).toHaveLength(1);
    });

    it('no answer within PROVIDER_TIMEOUT_MS: FAILED PROVIDER_TIMEOUT', async () => {
      fake.setDefault({ delayFirstMs: 2000 });
      const threadId = await newThread(strict);
      const t0 = Date.now();
      const run = await sendAndWait(threadId, 'Anyone?', strict);
      expect(run).toMatchObject({ status: 'FAILED', error: { code: 'PROVIDER_TIMEOUT' }, reply: null });
      expect(Date.now() - t0).toBeLessThan(1800);
      expect(fake.requests).toHaveLength(1);
      await expectThreadUsable(threadId, 'Anyone?', strict);
    });
  });
});
