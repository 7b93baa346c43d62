import type OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { stopWithFakeProvider, type TestServer } from './helpers.js';
import { startV1, textOf } from './v1-helpers.js';

/**
 * Function tools through the SDK's helpers: a run stops at `requires_action` with the calls,
 * the outputs go back with submitToolOutputsAndPoll or submitToolOutputsStream, the same run
 * answers with them; its steps show the round and the reply.
 */

let server: TestServer;
let fake: FakeProvider;
let client: OpenAI;
let assistant: OpenAI.Beta.Assistant;

const weather = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'The weather in a city.', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const time = { type: 'function' as const, function: { name: 'get_time' } };

beforeAll(async () => {
  ({ server, fake, client } = await startV1());
  assistant = await client.beta.assistants.create({ model: 'gpt-test', name: 'Tools', tools: [weather, time] });
});
afterAll(() => stopWithFakeProvider(server, fake));
beforeEach(() => fake.reset());

describe('function tools', () => {
  it('createAndRunPoll stops at requires_action; submitToolOutputsAndPoll completes the same run', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'prov_1' }] }, { chunks: ['Sunny ', 'in Paris.'] });
    const waiting = await client.beta.threads.createAndRunPoll({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'Weather in Paris?' }] } });
    expect(waiting.status).toBe('requires_action');
    expect(waiting.expires_at).toBeGreaterThan(waiting.created_at);
    const calls = waiting.required_action!.submit_tool_outputs.tool_calls;
    expect(calls).toEqual([{ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);

    const done = await client.beta.threads.runs.submitToolOutputsAndPoll(waiting.id, { thread_id: waiting.thread_id, tool_outputs: [{ tool_call_id: calls[0]!.id, output: '22°C, sunny' }] });
    expect(done).toMatchObject({ id: waiting.id, status: 'completed', required_action: null });
    expect(textOf((await client.beta.threads.messages.list(waiting.thread_id)).data[0]!)).toBe('Sunny in Paris.');
    // The provider got the call and its output in its own format.
    expect(fake.requests[1]!.body.input).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'function_call', call_id: 'prov_1', name: 'get_weather' }), { type: 'function_call_output', call_id: 'prov_1', output: '22°C, sunny' }]),
    );

    // Its steps: the tool round with its output, then the message, oldest first with order asc.
    const steps = await client.beta.threads.runs.steps.list(done.id, { thread_id: done.thread_id, order: 'asc' });
    expect(steps.data.map((s) => [s.type, s.status])).toEqual([
      ['tool_calls', 'completed'],
      ['message_creation', 'completed'],
    ]);
    const [toolStep, messageStep] = steps.data;
    expect(toolStep!.step_details).toEqual({ type: 'tool_calls', tool_calls: [{ id: calls[0]!.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}', output: '22°C, sunny' } }] });
    expect(messageStep!.step_details).toMatchObject({ type: 'message_creation', message_creation: { message_id: expect.stringMatching(/^msg_/) } });
    const desc = await client.beta.threads.runs.steps.list(done.id, { thread_id: done.thread_id });
    expect(desc.data.map((s) => s.id)).toEqual([messageStep!.id, toolStep!.id]);
    const one = await client.beta.threads.runs.steps.retrieve(toolStep!.id, { thread_id: done.thread_id, run_id: done.id });
    expect(one).toMatchObject({ id: toolStep!.id, object: 'thread.run.step', run_id: done.id, type: 'tool_calls' });
  });

  it('runs.stream fires toolCall events and ends at requires_action; submitToolOutputsStream streams the answer', async () => {
    const thread = await client.beta.threads.create({ messages: [{ role: 'user', content: 'Weather and time?' }] });
    fake.enqueue(
      { text: 'Let me check. ', toolCalls: [{ name: 'get_weather', arguments: ['{"city":', '"Oslo"}'] }, { name: 'get_time', arguments: '{}' }] },
      { chunks: ['Cold, ', 'and noon.'] },
    );
    const first = client.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id, parallel_tool_calls: true });
    const created: string[] = [];
    const done: string[] = [];
    first.on('toolCallCreated', (call) => created.push(call.type === 'function' ? call.function.name : call.type));
    first.on('toolCallDone', (call) => done.push(call.type === 'function' ? `${call.function.name}(${call.function.arguments})` : call.type));
    const waiting = await first.finalRun();
    expect(waiting.status).toBe('requires_action');
    expect(fake.requests[0]!.body.parallel_tool_calls).toBe(true);
    expect(created).toEqual(['get_weather', 'get_time']);
    expect(done).toEqual(['get_weather({"city":"Oslo"})', 'get_time({})']);
    const calls = waiting.required_action!.submit_tool_outputs.tool_calls;
    const [messageStep, toolStep] = await first.finalRunSteps();
    expect(messageStep).toMatchObject({ type: 'message_creation' });
    expect(toolStep).toMatchObject({ type: 'tool_calls', step_details: { tool_calls: [{ id: calls[0]!.id, index: 0 }, { id: calls[1]!.id, index: 1 }] } });

    const second = client.beta.threads.runs.submitToolOutputsStream(waiting.id, {
      thread_id: thread.id,
      tool_outputs: calls.map((c) => ({ tool_call_id: c.id, output: c.function.name === 'get_weather' ? '-5°C' : '12:00' })),
    });
    const deltas: string[] = [];
    second.on('textDelta', (d) => deltas.push(d.value ?? ''));
    const ended = await second.finalRun();
    expect(ended).toMatchObject({ id: waiting.id, status: 'completed' });
    expect(deltas).toEqual(['Cold, ', 'and noon.']);
    // One reply holds the text before the calls and the answer after them.
    const [message] = await second.finalMessages();
    expect(message!.content).toMatchObject([{ type: 'text', text: { value: 'Let me check. Cold, and noon.' } }]);
    expect(textOf((await client.beta.threads.messages.list(thread.id)).data[0]!)).toBe('Let me check. Cold, and noon.');
  });

  it('bad submissions are 400s naming the field; per-run tools and tool_choice reach the provider', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }] }, { text: 'Noon.' });
    const waiting = await client.beta.threads.createAndRunPoll({
      assistant_id: assistant.id,
      thread: { messages: [{ role: 'user', content: 'Time?' }] },
      tools: [time],
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });
    expect(waiting.tools.map((t) => (t.type === 'function' ? t.function.name : t.type))).toEqual(['get_time']);
    expect(waiting.tool_choice).toEqual({ type: 'function', function: { name: 'get_time' } });
    expect(fake.requests[0]!.body.tool_choice).toEqual({ type: 'function', name: 'get_time' });
    const wrong = await client.beta.threads.runs
      .submitToolOutputs(waiting.id, { thread_id: waiting.thread_id, tool_outputs: [{ tool_call_id: 'call_nope', output: 'x' }] })
      .catch((e) => e);
    expect(wrong).toMatchObject({ status: 400, param: 'tool_outputs[0].tool_call_id', type: 'invalid_request_error' });
    const callId = waiting.required_action!.submit_tool_outputs.tool_calls[0]!.id;
    const ok = await client.beta.threads.runs.submitToolOutputsAndPoll(waiting.id, { thread_id: waiting.thread_id, tool_outputs: [{ tool_call_id: callId, output: '12:00' }] });
    expect(ok.status).toBe('completed');
    const late = await client.beta.threads.runs
      .submitToolOutputs(waiting.id, { thread_id: waiting.thread_id, tool_outputs: [{ tool_call_id: callId, output: 'other' }] })
      .catch((e) => e);
    expect(late).toMatchObject({ status: 400, param: 'run_id' });
    expect(late.message).toMatch(/COMPLETED, not waiting for tool outputs/);
  });

  it('code_interpreter and file_search are refused with a 400 naming tools[i].type', async () => {
    const onAssistant = await client.beta.assistants.create({ model: 'm', tools: [weather, { type: 'code_interpreter' }] }).catch((e) => e);
    expect(onAssistant).toMatchObject({ status: 400, param: 'tools[1].type', type: 'invalid_request_error' });
    expect(onAssistant.message).toMatch(/code_interpreter tools are not supported/);
    const thread = await client.beta.threads.create();
    const onRun = await client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id, tools: [{ type: 'file_search' }] }).catch((e) => e);
    expect(onRun).toMatchObject({ status: 400, param: 'tools[0].type' });
    expect((await client.beta.threads.runs.list(thread.id)).data).toEqual([]);
  });
});
