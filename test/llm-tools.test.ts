import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createChatProvider, createOfflineProvider, createResponsesProvider } from '../src/llm/index.js';
import type { LlmMessage, LlmProvider, LlmRequest, LlmStreamEvent, LlmToolCall, LlmToolDefinition } from '../src/llm/index.js';
import { ProviderError } from '../src/llm/types.js';
import { startFakeProvider } from './fake-provider.js';
import type { FakeProvider } from './fake-provider.js';

/** Function calling, end to end over real HTTP: the fake's wire format, both adapters, the offline model. */

let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => fake.reset());

const WEATHER: LlmToolDefinition = {
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};
const TIME: LlmToolDefinition = { name: 'get_time', description: null, parameters: null, strict: null };

function request(overrides: Partial<LlmRequest> = {}): LlmRequest {
  return {
    model: 'gpt-test',
    instructions: null,
    messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
    temperature: null,
    tools: [WEATHER, TIME],
    toolChoice: null,
    parallelToolCalls: null,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function collect(provider: LlmProvider, req: LlmRequest = request()): Promise<LlmStreamEvent[]> {
  const events: LlmStreamEvent[] = [];
  for await (const ev of provider.stream(req)) events.push(ev);
  return events;
}

const callsOf = (events: LlmStreamEvent[]): LlmToolCall[] =>
  events.flatMap((e) => (e.type === 'tool_call' ? [e.call] : []));
const doneOf = (events: LlmStreamEvent[]) => events.find((e) => e.type === 'done');

describe("the fake's function-call streams, read by the SDK's own stream helpers", () => {
  const client = () => new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 });

  it('Responses: finalResponse() has the text and both calls with their whole arguments', async () => {
    fake.enqueue({
      text: 'Let me check. ',
      toolCalls: [
        { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_paris' },
        { name: 'get_weather', arguments: ['{"ci', 'ty":"Ro', 'me"}'] },
      ],
    });
    const stream = client().responses.stream({
      model: 'gpt-test',
      input: 'Weather in Paris and Rome?',
      tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER.parameters, strict: true }],
    });
    const argumentDeltas: string[] = [];
    const doneArguments: string[] = [];
    stream.on('response.function_call_arguments.delta', (e) => argumentDeltas.push(e.delta));
    stream.on('response.function_call_arguments.done', (e) => doneArguments.push(e.arguments));
    const final = await stream.finalResponse();

    expect(final.status).toBe('completed');
    expect(final.output_text).toBe('Let me check. ');
    const calls = final.output.filter((o) => o.type === 'function_call');
    expect(calls).toMatchObject([
      { type: 'function_call', call_id: 'call_paris', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
      { type: 'function_call', name: 'get_weather', arguments: '{"city":"Rome"}', status: 'completed' },
    ]);
    expect(calls[1]?.type === 'function_call' && calls[1].call_id).toMatch(/^call_[\w-]{8,}$/);
    // Strict tools are parsed by the SDK: the arguments are valid JSON.
    expect(calls.map((c) => c.type === 'function_call' && (c as { parsed_arguments?: unknown }).parsed_arguments)).toEqual([
      { city: 'Paris' },
      { city: 'Rome' },
    ]);
    expect(argumentDeltas.join('')).toBe('{"city":"Paris"}{"city":"Rome"}');
    expect(argumentDeltas.length).toBeGreaterThan(2);
    expect(doneArguments).toEqual(['{"city":"Paris"}', '{"city":"Rome"}']);
  });

  it('Responses: a turn that only calls has no message item', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }] });
    const final = await client()
      .responses.stream({ model: 'gpt-test', input: 'time?', tools: [{ type: 'function', name: 'get_time', parameters: null, strict: false }] })
      .finalResponse();
    expect(final.output_text).toBe('');
    expect(final.output.map((o) => o.type)).toEqual(['function_call']);
    expect(final.output[0]).toMatchObject({ name: 'get_time', arguments: '{}' });
  });

  it('Chat: finalChatCompletion() has tool_calls with their whole arguments and finish_reason tool_calls', async () => {
    fake.enqueue({
      text: 'Let me check. ',
      toolCalls: [
        { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_paris' },
        { name: 'get_weather', arguments: ['{"ci', 'ty":"Ro', 'me"}'] },
      ],
    });
    const stream = client().chat.completions.stream({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'Weather in Paris and Rome?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.parameters!, strict: true } }],
      stream_options: { include_usage: true },
    });
    const doneArguments: string[] = [];
    stream.on('tool_calls.function.arguments.done', (e) => doneArguments.push(e.arguments));
    const final = await stream.finalChatCompletion();

    const [choice] = final.choices;
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBe('Let me check. ');
    expect(choice?.message.tool_calls).toMatchObject([
      { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}', parsed_arguments: { city: 'Paris' } } },
      { type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}', parsed_arguments: { city: 'Rome' } } },
    ]);
    expect(choice?.message.tool_calls?.[1]?.id).toMatch(/^call_[\w-]{8,}$/);
    expect(doneArguments).toEqual(['{"city":"Paris"}', '{"city":"Rome"}']);
    expect(final.usage).not.toBeNull();
  });

  it('Chat: a turn that only calls has content null', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }] });
    const final = await client()
      .chat.completions.stream({ model: 'gpt-test', messages: [{ role: 'user', content: 'time?' }], tools: [{ type: 'function', function: { name: 'get_time' } }] })
      .finalChatCompletion();
    expect(final.choices[0]?.message).toMatchObject({ role: 'assistant', content: null, tool_calls: [{ function: { name: 'get_time', arguments: '{}' } }] });
  });
});

const adapters = [
  { api: 'responses', create: createResponsesProvider },
  { api: 'chat', create: createChatProvider },
] as const;

describe.each(adapters)('$api adapter: function calls', ({ api, create }) => {
  const provider = () => create({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0, timeoutMs: 5000, idleTimeoutMs: 5000 });

  it('one call: a tool_call event with the provider id, then done tool_calls', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_abc123' }], usage: { input: 5, output: 2 } });
    const events = await collect(provider());
    expect(events).toEqual([
      { type: 'tool_call', call: { id: 'call_abc123', name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { type: 'done', finishReason: 'tool_calls', usage: { inputTokens: 5, outputTokens: 2, totalTokens: 7 } },
    ]);
  });

  it('two parallel calls, in order, each whole', async () => {
    fake.enqueue({
      toolCalls: [
        { name: 'get_weather', arguments: '{"city":"Paris"}' },
        { name: 'get_weather', arguments: '{"city":"Rome"}' },
        { name: 'get_time', arguments: '' },
      ],
    });
    const events = await collect(provider());
    const calls = callsOf(events);
    expect(calls.map((c) => [c.name, c.arguments])).toEqual([
      ['get_weather', '{"city":"Paris"}'],
      ['get_weather', '{"city":"Rome"}'],
      ['get_time', ''],
    ]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(3);
    expect(calls.every((c) => /^call_/.test(c.id))).toBe(true);
    expect(doneOf(events)).toMatchObject({ finishReason: 'tool_calls' });
  });

  it('text before a call: the deltas come first', async () => {
    fake.enqueue({ text: 'Let me check.', toolCalls: [{ name: 'get_time', arguments: '{}' }] });
    const events = await collect(provider());
    expect(events.map((e) => e.type)).toEqual(['delta', 'delta', 'delta', 'tool_call', 'done']);
    expect(events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join('')).toBe('Let me check.');
    expect(doneOf(events)).toMatchObject({ finishReason: 'tool_calls' });
  });

  it('arguments split into many pieces arrive as one whole call', async () => {
    const pieces = ['{', '"ci', 'ty"', ':', ' "Pa', 'ris', '"}'];
    fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: pieces }] });
    const events = await collect(provider());
    expect(events.filter((e) => e.type === 'tool_call')).toHaveLength(1);
    expect(callsOf(events)[0]?.arguments).toBe('{"city": "Paris"}');
  });

  it('a plain text answer with tools offered: no call, done stop', async () => {
    fake.enqueue({ text: 'Sunny.' });
    const events = await collect(provider());
    expect(callsOf(events)).toEqual([]);
    expect(doneOf(events)).toMatchObject({ finishReason: 'stop' });
  });

  it('a stream cut before its final event → PROVIDER_ERROR (calls already complete are still reported first)', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }], omitFinal: true });
    const events: LlmStreamEvent[] = [];
    const err = await (async () => {
      for await (const ev of provider().stream(request())) events.push(ev);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(events.some((e) => e.type === 'done')).toBe(false);
  });

  const choices = [
    { choice: { mode: 'AUTO' }, responses: 'auto', chat: 'auto' },
    { choice: { mode: 'NONE' }, responses: 'none', chat: 'none' },
    { choice: { mode: 'REQUIRED' }, responses: 'required', chat: 'required' },
    {
      choice: { mode: 'FUNCTION', functionName: 'get_weather' },
      responses: { type: 'function', name: 'get_weather' },
      chat: { type: 'function', function: { name: 'get_weather' } },
    },
  ] as const;

  it.each(choices)('sends tools, tool_choice $choice.mode and parallel_tool_calls in its own format', async (c) => {
    await collect(provider(), request({ toolChoice: c.choice, parallelToolCalls: false }));
    const body = fake.requests[0]?.body;
    expect(body.tool_choice).toEqual(c[api]);
    expect(body.parallel_tool_calls).toBe(false);
    if (api === 'responses') {
      expect(body.tools).toEqual([
        { type: 'function', name: 'get_weather', description: 'The weather in a city.', parameters: WEATHER.parameters, strict: true },
        // FunctionTool requires parameters and strict: null is the provider's default.
        { type: 'function', name: 'get_time', parameters: null, strict: null },
      ]);
    } else {
      expect(body.tools).toEqual([
        { type: 'function', function: { name: 'get_weather', description: 'The weather in a city.', parameters: WEATHER.parameters, strict: true } },
        { type: 'function', function: { name: 'get_time' } },
      ]);
    }
  });

  it('null toolChoice and parallelToolCalls: left to the provider (not sent)', async () => {
    await collect(provider());
    const body = fake.requests[0]?.body;
    expect(body.tools).toHaveLength(2);
    expect(body).not.toHaveProperty('tool_choice');
    expect(body).not.toHaveProperty('parallel_tool_calls');
  });

  it('history with calls and outputs reaches the provider in its format, call ids matching', async () => {
    // Turn 1: the model calls two functions; the engine runs them and sends the outputs back.
    fake.enqueue({
      text: 'Checking.',
      toolCalls: [
        { name: 'get_weather', arguments: '{"city":"Paris"}' },
        { name: 'get_time', arguments: '{}' },
      ],
    });
    const first = callsOf(await collect(provider()));
    expect(first).toHaveLength(2);
    const [paris, time] = first as [LlmToolCall, LlmToolCall];
    const messages: LlmMessage[] = [
      { role: 'user', content: 'Weather in Paris, and the time?' },
      { role: 'assistant', content: 'Checking.', toolCalls: first },
      { role: 'tool', toolCallId: paris.id, content: '{"temp":21}' },
      { role: 'tool', toolCallId: time.id, content: '12:00' },
      // A turn that only called, then its output.
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_again', name: 'get_time', arguments: '{}' }] },
      { role: 'tool', toolCallId: 'call_again', content: '12:01' },
    ];
    fake.enqueue({ text: 'It is 21 degrees at 12:01.' });
    const second = await collect(provider(), request({ instructions: 'Be brief.', messages }));
    expect(doneOf(second)).toMatchObject({ finishReason: 'stop' });

    const body = fake.requests[1]?.body;
    if (api === 'responses') {
      expect(body.input).toEqual([
        { role: 'user', content: 'Weather in Paris, and the time?' },
        { role: 'assistant', content: 'Checking.' },
        { type: 'function_call', call_id: paris.id, name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: time.id, name: 'get_time', arguments: '{}' },
        { type: 'function_call_output', call_id: paris.id, output: '{"temp":21}' },
        { type: 'function_call_output', call_id: time.id, output: '12:00' },
        { type: 'function_call', call_id: 'call_again', name: 'get_time', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_again', output: '12:01' },
      ]);
    } else {
      expect(body.messages).toEqual([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris, and the time?' },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: paris.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: time.id, type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: paris.id, content: '{"temp":21}' },
        { role: 'tool', tool_call_id: time.id, content: '12:00' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_again', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_again', content: '12:01' },
      ]);
    }
  });

  if (api === 'chat') {
    it('finish_reason length with a call under way: the call is dropped (its arguments may be cut), done length', async () => {
      fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Pa' }], finishReason: 'length' });
      const events = await collect(provider());
      expect(callsOf(events)).toEqual([]);
      expect(doneOf(events)).toMatchObject({ finishReason: 'length' });
    });

    it("calls finished with 'stop' (as some compatible servers do) are still calls", async () => {
      fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }], finishReason: 'stop' });
      const events = await collect(provider());
      expect(callsOf(events)).toHaveLength(1);
      expect(doneOf(events)).toMatchObject({ finishReason: 'tool_calls' });
    });

    it("finish_reason 'tool_calls' without any call is a normal stop", async () => {
      fake.enqueue({ text: 'Nothing to call.', finishReason: 'tool_calls' });
      const events = await collect(provider());
      expect(doneOf(events)).toMatchObject({ finishReason: 'stop' });
    });
  } else {
    it('a call completed before response.incomplete is reported; done carries the incomplete reason', async () => {
      fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }], finishReason: 'length' });
      const events = await collect(provider());
      expect(callsOf(events)).toHaveLength(1);
      expect(doneOf(events)).toMatchObject({ finishReason: 'length' });
    });
  }
});

describe('offline model: function calls', () => {
  const offline = createOfflineProvider({ delayMs: 0 });
  const ask = (content: string, overrides: Partial<LlmRequest> = {}) =>
    collect(offline, request({ messages: [{ role: 'user', content }], ...overrides }));
  const text = (events: LlmStreamEvent[]) => events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join('');

  it('`call <tool> {json}` calls that tool with those arguments, finish tool_calls', async () => {
    const events = await ask('call get_weather {"city": "Paris"}');
    expect(events.map((e) => e.type)).toEqual(['tool_call', 'done']);
    expect(callsOf(events)).toEqual([{ id: 'call_offline_1', name: 'get_weather', arguments: '{"city": "Paris"}' }]);
    expect(doneOf(events)).toMatchObject({ finishReason: 'tool_calls' });
    expect(await ask('call get_weather {"city": "Paris"}')).toEqual(events); // deterministic
  });

  it('`call <tool>` without arguments → {}', async () => {
    expect(callsOf(await ask('  call get_time  '))).toEqual([{ id: 'call_offline_1', name: 'get_time', arguments: '{}' }]);
  });

  it('an unknown tool, no tools, or toolChoice NONE: the usual reply', async () => {
    for (const events of [
      await ask('call launch_rockets {}'),
      await ask('call get_time', { tools: [] }),
      await ask('call get_time', { toolChoice: { mode: 'NONE' } }),
    ]) {
      expect(callsOf(events)).toEqual([]);
      expect(text(events)).toMatch(/^You said: "call /);
      expect(doneOf(events)).toMatchObject({ finishReason: 'stop' });
    }
  });

  it('toolChoice FUNCTION and REQUIRED force a call even without the trigger', async () => {
    expect(callsOf(await ask('hello', { toolChoice: { mode: 'FUNCTION', functionName: 'get_time' } }))).toEqual([
      { id: 'call_offline_1', name: 'get_time', arguments: '{}' },
    ]);
    expect(callsOf(await ask('hello', { toolChoice: { mode: 'REQUIRED' } }))[0]?.name).toBe('get_weather');
  });

  it('after the outputs: a text reply naming each tool and its output, finish stop; ids count the earlier calls', async () => {
    const messages: LlmMessage[] = [
      { role: 'user', content: 'call get_weather {"city":"Paris"}' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_offline_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', toolCallId: 'call_offline_1', content: 'sunny, 21 C' },
    ];
    const events = await collect(offline, request({ messages }));
    expect(callsOf(events)).toEqual([]);
    expect(text(events)).toBe('The tool get_weather returned: sunny, 21 C');
    expect(doneOf(events)).toMatchObject({ finishReason: 'stop' });

    const next = await collect(offline, request({ messages: [...messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'call get_time' }] }));
    expect(callsOf(next)[0]?.id).toBe('call_offline_2');
  });
});
