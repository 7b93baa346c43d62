import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isAbortError } from '../src/llm/errors.js';
import { createChatProvider, createLlmProvider, createOfflineProvider, createResponsesProvider } from '../src/llm/index.js';
import type { LlmProvider, LlmRequest, LlmStreamEvent, LlmToolCall } from '../src/llm/index.js';
import { ProviderError } from '../src/llm/types.js';
import { startFakeProvider } from './fake-provider.js';
import type { FakeProvider } from './fake-provider.js';

const API_KEY = 'sk-test-secret-key-0123456789';

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

function request(overrides: Partial<LlmRequest> = {}): LlmRequest {
  return {
    model: 'gpt-test',
    instructions: 'Be brief.',
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'How are you?' },
    ],
    temperature: null,
    tools: [],
    toolChoice: null,
    parallelToolCalls: null,
    signal: new AbortController().signal,
    ...overrides,
  };
}

interface Outcome {
  deltas: string[];
  refusals: string[];
  calls: LlmToolCall[];
  done: Extract<LlmStreamEvent, { type: 'done' }> | undefined;
  error: unknown;
}

async function run(provider: LlmProvider, req: LlmRequest = request()): Promise<Outcome> {
  const out: Outcome = { deltas: [], refusals: [], calls: [], done: undefined, error: undefined };
  try {
    for await (const ev of provider.stream(req)) {
      if (ev.type === 'delta') out.deltas.push(ev.text);
      else if (ev.type === 'refusal') out.refusals.push(ev.text);
      else if (ev.type === 'tool_call') out.calls.push(ev.call);
      else out.done = ev;
    }
  } catch (err) {
    out.error = err;
  }
  return out;
}

function expectProviderError(err: unknown, code: ProviderError['code']): ProviderError {
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).code).toBe(code);
  return err as ProviderError;
}

const adapters = [
  { api: 'responses', create: createResponsesProvider },
  { api: 'chat', create: createChatProvider },
] as const;

describe.each(adapters)('$api adapter', ({ api, create }) => {
  const provider = (o: { maxRetries?: number; idleTimeoutMs?: number; apiKey?: string } = {}) =>
    create({ apiKey: o.apiKey ?? API_KEY, baseURL: fake.url, maxRetries: o.maxRetries ?? 0, timeoutMs: 5000, idleTimeoutMs: o.idleTimeoutMs ?? 5000 });

  it('streams deltas that concatenate to the text, then done with usage', async () => {
    fake.enqueue({ text: 'One two three.', usage: { input: 7, output: 3 } });
    const out = await run(provider());
    expect(out.error).toBeUndefined();
    expect(out.deltas).toEqual(['One ', 'two ', 'three.']);
    expect(out.done).toEqual({ type: 'done', finishReason: 'stop', usage: { inputTokens: 7, outputTokens: 3, totalTokens: 10 } });
    await new Promise((r) => setTimeout(r, 20));
    // A completed stream is not an abort, even though the client stops reading at the final event.
    expect(fake.aborted).toBe(0);
    expect(fake.inFlight).toBe(0);
  });

  it('streams a refusal as refusal events (not deltas), then a normal done', async () => {
    fake.enqueue({ chunks: [], refusal: ["I'm sorry, ", 'I cannot help with that.'] });
    const out = await run(provider());
    expect(out.error).toBeUndefined();
    expect(out.deltas).toEqual([]);
    expect(out.refusals).toEqual(["I'm sorry, ", 'I cannot help with that.']);
    expect(out.done).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('text and a refusal in one answer: both kept apart', async () => {
    fake.enqueue({ chunks: ['Well. '], refusal: ['No.'] });
    const out = await run(provider());
    expect(out.deltas).toEqual(['Well. ']);
    expect(out.refusals).toEqual(['No.']);
    expect(out.done).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('pauseAfter holds the stream until resumeWhen; reset() ends a stalled stream', async () => {
    let resume!: () => void;
    fake.enqueue({ text: 'a b c', pauseAfter: 1, resumeWhen: new Promise<void>((r) => (resume = r)) });
    const iter = provider().stream(request())[Symbol.asyncIterator]();
    expect(await iter.next()).toEqual({ done: false, value: { type: 'delta', text: 'a ' } });
    expect(fake.inFlight).toBe(1);
    resume();
    const rest: LlmStreamEvent[] = [];
    for (let r = await iter.next(); !r.done; r = await iter.next()) rest.push(r.value);
    expect(rest.map((e) => e.type)).toEqual(['delta', 'delta', 'done']);

    fake.enqueue({ stallAfter: 0 });
    const stalled = run(provider());
    await fake.waitForRequests(2);
    await new Promise((r) => setTimeout(r, 20));
    fake.reset();
    expectProviderError((await stalled).error, 'PROVIDER_ERROR');
    expect(fake.aborted).toBe(0);
  });

  it('sends model, instructions, history in order and streaming options', async () => {
    await run(provider(), request({ temperature: 0.3 }));
    const [rec] = fake.requests;
    expect(rec?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    const history = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'How are you?' },
    ];
    if (api === 'responses') {
      expect(rec?.path).toBe('/v1/responses');
      expect(rec?.body).toMatchObject({ model: 'gpt-test', instructions: 'Be brief.', input: history, temperature: 0.3, stream: true, store: false });
    } else {
      expect(rec?.path).toBe('/v1/chat/completions');
      expect(rec?.body).toMatchObject({
        model: 'gpt-test',
        messages: [{ role: 'system', content: 'Be brief.' }, ...history],
        temperature: 0.3,
        stream: true,
        stream_options: { include_usage: true },
      });
    }
  });

  it('without tools sends no tools, tool_choice or parallel_tool_calls, even when a choice is set', async () => {
    const out = await run(provider(), request({ toolChoice: { mode: 'REQUIRED' }, parallelToolCalls: false }));
    expect(out.calls).toEqual([]);
    expect(out.done?.finishReason).toBe('stop');
    const body = fake.requests[0]?.body;
    expect(body).not.toHaveProperty('tools');
    expect(body).not.toHaveProperty('tool_choice');
    expect(body).not.toHaveProperty('parallel_tool_calls');
  });

  it('omits temperature and instructions when null', async () => {
    await run(provider(), request({ instructions: null }));
    const body = fake.requests[0]?.body;
    expect(body).not.toHaveProperty('temperature');
    if (api === 'responses') expect(body).not.toHaveProperty('instructions');
    else expect(body.messages[0]).toEqual({ role: 'user', content: 'Hi' });
  });

  it('401 → PROVIDER_AUTH without the API key in the message', async () => {
    fake.setDefault({ status: 401, errorMessage: `Incorrect API key provided: ${API_KEY}.` });
    const out = await run(provider({ maxRetries: 2 }));
    const err = expectProviderError(out.error, 'PROVIDER_AUTH');
    expect(err.message).toContain('401 Incorrect API key provided');
    expect(err.message).not.toContain(API_KEY);
    expect(fake.requests).toHaveLength(1); // not retried
  });

  it('500 is retried by the SDK, then PROVIDER_ERROR', async () => {
    fake.setDefault({ status: 500 });
    const out = await run(provider({ maxRetries: 2 }));
    expectProviderError(out.error, 'PROVIDER_ERROR');
    expect(fake.requests).toHaveLength(3);
  });

  it('429 with retry-after is retried, then PROVIDER_RATE_LIMITED', async () => {
    fake.setDefault({ status: 429, retryAfter: '0' });
    const out = await run(provider({ maxRetries: 1 }));
    expectProviderError(out.error, 'PROVIDER_RATE_LIMITED');
    expect(fake.requests).toHaveLength(2);
  });

  it('a retry that succeeds streams normally', async () => {
    fake.enqueue({ status: 503 }, { text: 'Recovered.' });
    const out = await run(provider({ maxRetries: 2 }));
    expect(out.deltas.join('')).toBe('Recovered.');
    expect(out.done?.finishReason).toBe('stop');
  });

  it('a cut connection → PROVIDER_ERROR after some deltas', async () => {
    fake.enqueue({ text: 'a b c d', cutAfter: 2 });
    const out = await run(provider());
    expect(out.deltas).toEqual(['a ', 'b ']);
    expectProviderError(out.error, 'PROVIDER_ERROR');
    expect(out.done).toBeUndefined();
  });

  it('a stalled stream → PROVIDER_TIMEOUT after the idle timeout, and the request is torn down', async () => {
    fake.enqueue({ text: 'a b c d', stallAfter: 1 });
    const started = Date.now();
    const out = await run(provider({ idleTimeoutMs: 200 }));
    expect(out.deltas).toEqual(['a ']);
    const err = expectProviderError(out.error, 'PROVIDER_TIMEOUT');
    expect(err.message).toBe('no data from the provider for 200 ms');
    expect(Date.now() - started).toBeLessThan(2000);
    await fake.waitForAborted(1);
  });

  it('an in-stream error event → PROVIDER_ERROR with the provider message', async () => {
    fake.enqueue({ text: 'a b c', errorEventAfter: 1, errorMessage: 'The model crashed.' });
    const out = await run(provider());
    expect(out.deltas).toEqual(['a ']);
    expect(expectProviderError(out.error, 'PROVIDER_ERROR').message).toContain('The model crashed.');
  });

  if (api === 'responses') {
    it('an `error` event → PROVIDER_ERROR with the provider message', async () => {
      fake.enqueue({ errorEventAfter: 0, errorEvent: 'error', errorMessage: 'Something broke.' });
      const out = await run(provider());
      expect(expectProviderError(out.error, 'PROVIDER_ERROR').message).toBe('Something broke.');
    });
  }

  it('a malformed data line → PROVIDER_ERROR', async () => {
    fake.enqueue({ text: 'a b c', malformedAfter: 1 });
    const out = await run(provider());
    expect(out.deltas).toEqual(['a ']);
    expect(expectProviderError(out.error, 'PROVIDER_ERROR').message).toMatch(/malformed/);
  });

  it('a stream that ends without its final event → PROVIDER_ERROR', async () => {
    fake.enqueue({ text: 'a b', omitFinal: true });
    const out = await run(provider());
    expect(out.deltas).toEqual(['a ', 'b']);
    expect(expectProviderError(out.error, 'PROVIDER_ERROR').message).toBe('stream ended before the response completed');
  });

  it.each(['length', 'content_filter'] as const)('finish reason %s → done with that reason', async (reason) => {
    fake.enqueue({ text: 'cut short', finishReason: reason });
    const out = await run(provider());
    expect(out.deltas.join('')).toBe('cut short');
    expect(out.done?.finishReason).toBe(reason);
    expect(out.done?.usage).not.toBeNull();
  });

  it('aborting the signal mid-stream ends with an abort error and the provider sees the abort', async () => {
    fake.enqueue({ text: 'a b c d e f', stallAfter: 2 });
    const ac = new AbortController();
    const iter = provider().stream(request({ signal: ac.signal }))[Symbol.asyncIterator]();
    expect(await iter.next()).toEqual({ done: false, value: { type: 'delta', text: 'a ' } });
    ac.abort();
    const rest = await iter.next().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isAbortError(rest)).toBe(true);
    expect(rest).not.toBeInstanceOf(ProviderError);
    await fake.waitForAborted(1);
  });

  it('breaking out of the stream early tears the request down', async () => {
    fake.enqueue({ text: 'a b c d', stallAfter: 2 });
    for await (const ev of provider().stream(request())) {
      expect(ev).toEqual({ type: 'delta', text: 'a ' });
      break;
    }
    await fake.waitForAborted(1);
    expect(fake.inFlight).toBe(0);
  });

  it('no response headers within the SDK timeout → PROVIDER_TIMEOUT', async () => {
    fake.enqueue({ delayFirstMs: 500 });
    const p = create({ apiKey: API_KEY, baseURL: fake.url, maxRetries: 0, timeoutMs: 100, idleTimeoutMs: 5000 });
    const out = await run(p);
    expectProviderError(out.error, 'PROVIDER_TIMEOUT');
  });

  it('an already aborted signal sends nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    const out = await run(provider(), request({ signal: ac.signal }));
    expect(isAbortError(out.error)).toBe(true);
    expect(fake.requests).toHaveLength(0);
  });

  it('aborting during the SDK retry sleep ends promptly', async () => {
    // 3 s: under the 5 s provider timeout, so the SDK does sleep (longer waits fail at once).
    fake.setDefault({ status: 429, retryAfter: '3' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const out = await run(provider({ maxRetries: 2 }), request({ signal: ac.signal }));
    expect(isAbortError(out.error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a provider that redirects (307) is followed, the request sent again as it was', async () => {
    // A base URL that redirects to the real one, as an http→https front or a proxy would.
    const front = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(307, { location: `${fake.url}${(req.url ?? '').replace(/^\/v1/, '')}` });
        res.end();
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      fake.enqueue({ text: 'One two three.', usage: { input: 7, output: 3 } });
      const port = (front.address() as AddressInfo).port;
      const redirected = create({ apiKey: API_KEY, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeoutMs: 5000, idleTimeoutMs: 5000 });
      const out = await run(redirected);
      expect(out.error).toBeUndefined();
      expect(out.deltas.join('')).toBe('One two three.');
      expect(fake.requests).toHaveLength(1);
      expect((fake.requests[0]!.body as { model?: string }).model).toBe('gpt-test');
    } finally {
      await new Promise((resolve) => front.close(resolve));
    }
  });
});

describe('chat adapter with OpenAI-compatible servers', () => {
  it('reports null usage when the server sends no usage chunk', async () => {
    fake.enqueue({ text: 'Local model.', omitUsage: true });
    const p = createChatProvider({ baseURL: fake.url, maxRetries: 0, timeoutMs: 5000, idleTimeoutMs: 5000 });
    const out = await run(p);
    expect(out.deltas.join('')).toBe('Local model.');
    expect(out.done).toEqual({ type: 'done', finishReason: 'stop', usage: null });
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer no-key');
  });
});

describe('offline provider', () => {
  it('streams a deterministic reply word by word with usage', async () => {
    const p = createOfflineProvider({ delayMs: 0 });
    const a = await run(p);
    const b = await run(p);
    expect(a.deltas.join('')).toBe(
      `You said: "How are you?". I am threadql's offline model: set OPENAI_API_KEY or OPENAI_BASE_URL to get real replies.`,
    );
    expect(a.deltas).toEqual(b.deltas);
    expect(a.deltas.every((d) => /^\S+\s*$/.test(d))).toBe(true);
    expect(a.done?.finishReason).toBe('stop');
    expect(a.done?.usage?.outputTokens).toBe(a.deltas.length);
  });

  it('stops promptly on abort with an abort error', async () => {
    const ac = new AbortController();
    const p = createOfflineProvider({ delayMs: 1000 });
    setTimeout(() => ac.abort(), 20);
    const started = Date.now();
    const out = await run(p, request({ signal: ac.signal }));
    expect(isAbortError(out.error)).toBe(true);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('is what createLlmProvider picks when offline', async () => {
    const p = createLlmProvider({
      api: 'responses',
      offline: true,
      apiKey: undefined,
      baseURL: undefined,
      maxInputTokens: 100_000,
      defaultModel: 'offline',
      maxRetries: 0,
      timeoutMs: 1000,
      idleTimeoutMs: 1000,
    });
    const out = await run(p, request({ messages: [{ role: 'user', content: 'ping' }] }));
    expect(out.deltas.join('')).toContain('You said: "ping"');
    expect(fake.requests).toHaveLength(0);
  });
});
