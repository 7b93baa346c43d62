import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import { codeOf, createAssistant, NO_RATE_LIMIT, ok, removeTempDirs, startTestServer, type TestServer } from './helpers.js';
import {
  APIS,
  CREATE_WAITING,
  expectBadInput,
  SEND_TOOLS,
  startToolThread,
  submit,
  submitOk,
  TIME,
  toolRun,
  WEATHER,
  wireRoundsOf,
  wireShape,
  type Api,
} from './tools-helpers.js';

/**
 * Function calling through the public GraphQL API, on both LLM APIs: a run stops in
 * REQUIRES_ACTION, submitToolOutputs continues the same run, and the provider sees each call
 * with its output in its own wire format. Bad submissions are refused and change nothing.
 */

/** Small, so an over-long tool output is cheap to send. */
const MAX_CONTENT_CHARS = 1000;

const toolNamesOf = (api: Api, body: any): string[] | undefined => body.tools?.map((t: any) => (api === 'responses' ? t.name : t.function.name));

describe.each(APIS)('%s: function calling over GraphQL', (api) => {
  let fake: FakeProvider;
  let server: TestServer;

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake, llmApi: api, env: { ...NO_RATE_LIMIT, MAX_CONTENT_CHARS: String(MAX_CONTENT_CHARS) } });
  });
  afterAll(async () => {
    await server.stop();
    await fake.close();
    removeTempDirs();
  });
  beforeEach(() => fake.reset());

  it('one call: REQUIRES_ACTION with the call and a deadline; its output continues the same run to COMPLETED', async () => {
    fake.enqueue(
      { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_provider_1' }], usage: { input: 10, output: 3 } },
      { text: 'It is 21 degrees in Paris.', usage: { input: 20, output: 5 } },
    );
    const before = Date.now();
    const { runId, run } = await startToolThread(server);
    expect(run).toMatchObject({ id: runId, status: 'REQUIRES_ACTION', reply: null, error: null, tools: [{ name: 'get_weather' }, { name: 'get_time' }] });
    const calls = run.requiredAction.toolCalls;
    expect(calls).toEqual([{ id: expect.stringMatching(/^call_/), name: 'get_weather', arguments: '{"city":"Paris"}', output: null }]);
    // The id clients give back is the server's own, not the provider's.
    expect(calls[0].id).not.toBe('call_provider_1');
    expect(run.toolCalls).toEqual(calls);
    // The default deadline is TOOL_OUTPUTS_TIMEOUT_MS (10 minutes) after the call.
    expect(Date.parse(run.expiresAt)).toBeGreaterThanOrEqual(before + 600_000 - 1000);
    expect(fake.requests).toHaveLength(1);

    const payload = await submitOk(server, runId, [{ toolCallId: calls[0].id, output: '{"celsius":21}' }]);
    expect(payload.run).toEqual({ id: runId, status: 'IN_PROGRESS' });
    expect(payload.reply).toMatchObject({ content: 'It is 21 degrees in Paris.', status: 'COMPLETED' });

    expect(await toolRun(server, runId)).toMatchObject({
      status: 'COMPLETED',
      requiredAction: null,
      expiresAt: null,
      toolCalls: [{ id: calls[0].id, name: 'get_weather', arguments: '{"city":"Paris"}', output: '{"celsius":21}' }],
      usage: { inputTokens: 30, outputTokens: 8, totalTokens: 38 },
      reply: { content: 'It is 21 degrees in Paris.', status: 'COMPLETED' },
    });
    expect(fake.requests).toHaveLength(2);
    expect(wireRoundsOf(api, fake.requests[1]!)).toEqual({
      calls: [{ id: 'call_provider_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      outputs: [{ id: 'call_provider_1', output: '{"celsius":21}' }],
    });
    expect(wireShape(api, fake.requests[1]!)).toEqual(
      api === 'responses' ? ['user', 'function_call', 'function_call_output'] : ['user', 'assistant+calls', 'tool'],
    );
    if (api === 'chat') {
      const assistant = fake.requests[1]!.body.messages[1];
      expect(assistant).toMatchObject({ role: 'assistant', content: null, tool_calls: [{ id: 'call_provider_1', type: 'function' }] });
    }
  });

  it('parallel calls: both in one round, answered in any order, replayed in the order they were made', async () => {
    fake.enqueue(
      {
        toolCalls: [
          { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_paris' },
          { name: 'get_weather', arguments: ['{"ci', 'ty":"Ro', 'me"}'], id: 'call_rome' },
        ],
      },
      { text: 'Paris 21, Rome 25.' },
    );
    const { runId, run } = await startToolThread(server, { content: 'Paris and Rome?' });
    const [paris, rome] = run.requiredAction.toolCalls;
    expect(run.requiredAction.toolCalls.map((c: any) => c.arguments)).toEqual(['{"city":"Paris"}', '{"city":"Rome"}']);
    expect(paris.id).not.toBe(rome.id);

    const payload = await submitOk(server, runId, [
      { toolCallId: rome.id, output: '25' },
      { toolCallId: paris.id, output: '21' },
    ]);
    expect(payload.reply).toMatchObject({ content: 'Paris 21, Rome 25.', status: 'COMPLETED' });
    expect((await toolRun(server, runId)).toolCalls.map((c: any) => c.output)).toEqual(['21', '25']);
    expect(wireRoundsOf(api, fake.requests[1]!).outputs).toEqual([
      { id: 'call_paris', output: '21' },
      { id: 'call_rome', output: '25' },
    ]);
    expect(wireShape(api, fake.requests[1]!)).toEqual(
      api === 'responses'
        ? ['user', 'function_call', 'function_call', 'function_call_output', 'function_call_output']
        : ['user', 'assistant+calls', 'tool', 'tool'],
    );
  });

  it('two rounds: call, output, text and another call, output, answer; the reply keeps all the text', async () => {
    fake.enqueue(
      { toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_t' }], usage: { input: 1, output: 1 } },
      { text: 'Now the weather. ', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Oslo"}', id: 'call_w' }], usage: { input: 2, output: 2 } },
      { text: 'Noon, and 3 degrees.', usage: { input: 4, output: 4 } },
    );
    const { runId, run } = await startToolThread(server, { content: 'Time, then weather in Oslo?' });
    const first = run.requiredAction.toolCalls[0];
    expect(first).toMatchObject({ name: 'get_time', arguments: '{}' });

    const again = await submitOk(server, runId, [{ toolCallId: first.id, output: '12:00' }]);
    // The reply resolves when the run requires action again, with the text so far.
    expect(again.reply).toMatchObject({ content: 'Now the weather. ' });
    const waiting = await toolRun(server, runId);
    expect(waiting.status).toBe('REQUIRES_ACTION');
    const second = waiting.requiredAction.toolCalls;
    expect(second).toEqual([{ id: expect.stringMatching(/^call_/), name: 'get_weather', arguments: '{"city":"Oslo"}', output: null }]);
    expect(waiting.toolCalls.map((c: any) => [c.name, c.output])).toEqual([['get_time', '12:00'], ['get_weather', null]]);

    const done = await submitOk(server, runId, [{ toolCallId: second[0].id, output: '3C' }]);
    expect(done.reply).toMatchObject({ content: 'Now the weather. Noon, and 3 degrees.', status: 'COMPLETED' });
    expect(await toolRun(server, runId)).toMatchObject({ status: 'COMPLETED', usage: { inputTokens: 7, outputTokens: 7, totalTokens: 14 } });

    expect(fake.requests).toHaveLength(3);
    expect(wireRoundsOf(api, fake.requests[2]!)).toEqual({
      calls: [
        { id: 'call_t', name: 'get_time', arguments: '{}' },
        { id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      ],
      outputs: [
        { id: 'call_t', output: '12:00' },
        { id: 'call_w', output: '3C' },
      ],
    });
    expect(wireShape(api, fake.requests[2]!)).toEqual(
      api === 'responses'
        ? ['user', 'function_call', 'function_call_output', 'assistant', 'function_call', 'function_call_output']
        : ['user', 'assistant+calls', 'tool', 'assistant+calls', 'tool'],
    );
  });

  it('text before a call stays in the reply, and a later run sees the whole answer in order', async () => {
    fake.enqueue(
      { text: 'Let me check. ', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Rome"}', id: 'call_r' }] },
      { text: 'Sunny in Rome.' },
      { text: 'You are welcome.' },
    );
    const { threadId, runId, run } = await startToolThread(server, { content: 'Rome?' });
    expect(run.reply).toMatchObject({ content: 'Let me check. ' });
    const done = await submitOk(server, runId, [{ toolCallId: run.requiredAction.toolCalls[0].id, output: 'sunny' }]);
    expect(done.reply).toMatchObject({ id: run.reply.id, content: 'Let me check. Sunny in Rome.', status: 'COMPLETED' });

    await ok(server, SEND_TOOLS, { input: { threadId, content: 'Thanks!' } });
    expect(fake.requests).toHaveLength(3);
    const later = fake.requests[2]!;
    expect(wireShape(api, later)).toEqual(
      api === 'responses'
        ? ['user', 'assistant', 'function_call', 'function_call_output', 'assistant', 'user']
        : ['user', 'assistant+calls', 'tool', 'assistant', 'user'],
    );
    const texts = api === 'responses' ? later.body.input.filter((i: any) => i.role === 'assistant') : later.body.messages.filter((m: any) => m.role === 'assistant');
    expect(texts.map((m: any) => m.content)).toEqual(['Let me check. ', 'Sunny in Rome.']);
  });

  it('bad submissions are BAD_USER_INPUT naming the field and change nothing', async () => {
    fake.enqueue(
      {
        toolCalls: [
          { name: 'get_weather', arguments: '{"city":"Paris"}', id: 'call_a' },
          { name: 'get_time', arguments: '{}', id: 'call_b' },
        ],
      },
      { text: 'Both answered.' },
    );
    const { runId, run } = await startToolThread(server);
    const [a, b] = run.requiredAction.toolCalls.map((c: any) => c.id);
    const cases: [{ toolCallId: string; output: string }[], string][] = [
      [[{ toolCallId: a, output: '1' }, { toolCallId: 'call_unknown', output: '2' }], 'input.toolOutputs[1].toolCallId'],
      [[{ toolCallId: a, output: '1' }], 'input.toolOutputs'],
      [[], 'input.toolOutputs'],
      [[{ toolCallId: a, output: '1' }, { toolCallId: a, output: '1' }, { toolCallId: b, output: '2' }], 'input.toolOutputs[1].toolCallId'],
      [[{ toolCallId: a, output: 'x'.repeat(MAX_CONTENT_CHARS + 1) }, { toolCallId: b, output: '2' }], 'input.toolOutputs[0].output'],
    ];
    for (const [outputs, field] of cases) {
      const res = await submit(server, runId, outputs);
      expectBadInput(res, field);
      expect(res.data?.submitToolOutputs ?? null).toBeNull();
    }
    const tooLong = await submit(server, runId, [{ toolCallId: a, output: 'x'.repeat(MAX_CONTENT_CHARS + 1) }, { toolCallId: b, output: '2' }]);
    expect(tooLong.errors![0]!.message).toContain('1,000');

    expect(await toolRun(server, runId)).toMatchObject({ status: 'REQUIRES_ACTION', requiredAction: { toolCalls: [{ output: null }, { output: null }] } });
    expect(fake.requests).toHaveLength(1);

    // The limit itself is accepted, and only this submission reached the provider.
    const atLimit = 'y'.repeat(MAX_CONTENT_CHARS);
    const done = await submitOk(server, runId, [{ toolCallId: b, output: 'noon' }, { toolCallId: a, output: atLimit }]);
    expect(done.reply).toMatchObject({ content: 'Both answered.', status: 'COMPLETED' });
    expect(fake.requests).toHaveLength(2);
    expect(wireRoundsOf(api, fake.requests[1]!).outputs).toEqual([
      { id: 'call_a', output: atLimit },
      { id: 'call_b', output: 'noon' },
    ]);
  });

  it('a run that is not waiting refuses outputs (QUEUED, COMPLETED), an unknown run is NOT_FOUND', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}' }] }, { text: 'Queued one.' }, { text: 'Tool one.' });
    const { threadId, runId, run } = await startToolThread(server);
    const queued = await ok(server, SEND_TOOLS.replace('reply { id content status }', ''), { input: { threadId, content: 'And then?', onActiveRun: 'ENQUEUE' } });
    expect(queued.sendMessage.run.status).toBe('QUEUED');
    const queuedId = queued.sendMessage.run.id;

    expectBadInput(await submit(server, queuedId, [{ toolCallId: run.requiredAction.toolCalls[0].id, output: 'x' }]), 'input.runId');
    expect(codeOf(await submit(server, 'run_doesnotexist0000000000', []))).toBe('NOT_FOUND');
    expect(fake.requests).toHaveLength(1);

    await submitOk(server, runId, [{ toolCallId: run.requiredAction.toolCalls[0].id, output: '09:00' }]);
    await server.services.runs.waitForEnd(queuedId);
    expect((await toolRun(server, queuedId)).status).toBe('COMPLETED');
    const completed = await submit(server, queuedId, [{ toolCallId: run.requiredAction.toolCalls[0].id, output: 'x' }]);
    expectBadInput(completed, 'input.runId');
    expect(completed.errors![0]!.message).toContain('COMPLETED');
  });

  it('the same submission retried (also concurrently) returns the run with one provider call; a different one is refused', async () => {
    fake.enqueue({ toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_once' }] }, { text: 'Once.' });
    const { runId, run } = await startToolThread(server);
    const outputs = [{ toolCallId: run.requiredAction.toolCalls[0].id, output: '10:00' }];

    const [first, second] = await Promise.all([submitOk(server, runId, outputs), submitOk(server, runId, outputs)]);
    expect(first.run.id).toBe(runId);
    expect(second.run.id).toBe(runId);
    expect([first.reply.content, second.reply.content]).toEqual(['Once.', 'Once.']);

    const retried = await submitOk(server, runId, outputs);
    expect(retried.run).toEqual({ id: runId, status: 'COMPLETED' });
    expect(retried.reply).toMatchObject({ content: 'Once.', status: 'COMPLETED' });
    expect(fake.requests).toHaveLength(2);

    expectBadInput(await submit(server, runId, [{ ...outputs[0]!, output: '11:00' }]), 'input.runId');
    expect((await toolRun(server, runId)).toolCalls[0].output).toBe('10:00');
    expect(fake.requests).toHaveLength(2);
  });

  it('a retry of the first round\'s submission while the run waits on its second round returns the run, no provider call', async () => {
    fake.enqueue(
      { toolCalls: [{ name: 'get_time', arguments: '{}' }] },
      { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Bern"}' }] },
      { text: 'Both done.' },
    );
    const { runId, run } = await startToolThread(server);
    const firstOutputs = [{ toolCallId: run.requiredAction.toolCalls[0].id, output: '08:00' }];
    await submitOk(server, runId, firstOutputs);
    const waiting = await toolRun(server, runId);
    expect(waiting.status).toBe('REQUIRES_ACTION');
    expect(fake.requests).toHaveLength(2);

    const retried = await submitOk(server, runId, firstOutputs);
    expect(retried.run).toEqual({ id: runId, status: 'REQUIRES_ACTION' });
    expect(await toolRun(server, runId)).toEqual(waiting);
    expect(fake.requests).toHaveLength(2);

    const done = await submitOk(server, runId, [{ toolCallId: waiting.requiredAction.toolCalls[0].id, output: 'cold' }]);
    expect(done.reply).toMatchObject({ content: 'Both done.', status: 'COMPLETED' });
    expect(fake.requests).toHaveLength(3);
  });

  it('tool definitions are checked: bad name, 129 tools, duplicate names, FUNCTION naming an unknown tool', async () => {
    const createAssistant = `mutation ($input: CreateAssistantInput!) { createAssistant(input: $input) { assistant { id } } }`;
    expectBadInput(await server.gql(createAssistant, { input: { tools: [{ name: 'get weather!' }] } }), 'input.tools[0].name');
    expectBadInput(await server.gql(createAssistant, { input: { tools: [{ name: 'x'.repeat(65) }] } }), 'input.tools[0].name');

    const many = Array.from({ length: 129 }, (_, i) => ({ name: `tool_${i}` }));
    const tooMany = await server.gql(CREATE_WAITING, { input: { messages: [{ role: 'USER', content: 'hi' }], tools: many } });
    expectBadInput(tooMany, 'input.tools');
    expect(tooMany.errors![0]!.message).toContain('128');

    const threadId: string = (await ok(server, `mutation { createThread(input: {}) { thread { id } } }`)).createThread.thread.id;
    expectBadInput(await server.gql(SEND_TOOLS, { input: { threadId, content: 'hi', tools: [WEATHER, TIME, WEATHER] } }), 'input.tools[2].name');
    expectBadInput(
      await server.gql(SEND_TOOLS, { input: { threadId, content: 'hi', tools: [WEATHER], toolChoice: { mode: 'FUNCTION', functionName: 'get_time' } } }),
      'input.toolChoice.functionName',
    );
    expectBadInput(
      await server.gql(CREATE_WAITING, { input: { messages: [{ role: 'USER', content: 'hi' }], tools: [TIME], toolChoice: { mode: 'FUNCTION', functionName: 'nope' } } }),
      'input.toolChoice.functionName',
    );
    // Nothing was started: no message on the thread, no provider request.
    const thread = await ok(server, `query ($id: ID!) { thread(id: $id) { messages(first: 5) { edges { node { id } } } runs(first: 5) { edges { node { id } } } } }`, { id: threadId });
    expect(thread.thread).toEqual({ messages: { edges: [] }, runs: { edges: [] } });
    expect(fake.requests).toHaveLength(0);

    // 128 is the limit itself.
    fake.enqueue({ text: 'Fine.' });
    const atLimit = await ok(server, CREATE_WAITING, { input: { messages: [{ role: 'USER', content: 'hi' }], tools: many.slice(0, 128) } });
    expect(atLimit.createThread.reply).toMatchObject({ status: 'COMPLETED' });
    expect(toolNamesOf(api, fake.requests[0]!.body)).toHaveLength(128);
  });

  it('toolChoice and parallelToolCalls reach the provider in its format', async () => {
    fake.setDefault({ text: 'No call needed.' });
    await startToolThread(server, { toolChoice: { mode: 'REQUIRED' }, parallelToolCalls: false });
    expect(fake.requests[0]!.body).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false });

    await startToolThread(server, { toolChoice: { mode: 'FUNCTION', functionName: 'get_weather' }, parallelToolCalls: true });
    expect(fake.requests[1]!.body).toMatchObject({
      tool_choice: api === 'responses' ? { type: 'function', name: 'get_weather' } : { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: true,
    });

    await startToolThread(server, { toolChoice: { mode: 'NONE' } });
    expect(fake.requests[2]!.body.tool_choice).toBe('none');
    expect(fake.requests[2]!.body).not.toHaveProperty('parallel_tool_calls');

    // No tools: nothing about tools is sent at all.
    await startToolThread(server, { tools: [] });
    for (const key of ['tools', 'tool_choice', 'parallel_tool_calls']) expect(fake.requests[3]!.body).not.toHaveProperty(key);
  });

  it("tools given on sendMessage replace the assistant's for that run only", async () => {
    fake.setDefault({ text: 'Ok.' });
    const assistantId = await createAssistant(server, { name: 'Weather bot', tools: [WEATHER, TIME] });
    const assistant = await ok(server, `query ($id: ID!) { assistant(id: $id) { tools { name description parameters strict } } }`, { id: assistantId });
    expect(assistant.assistant.tools).toEqual([WEATHER, { name: 'get_time', description: null, parameters: null, strict: null }]);

    const { threadId, runId } = await startToolThread(server, { assistantId, tools: undefined });
    expect(toolNamesOf(api, fake.requests[0]!.body)).toEqual(['get_weather', 'get_time']);
    expect((await toolRun(server, runId)).tools).toEqual([{ name: 'get_weather' }, { name: 'get_time' }]);

    const lookup = { name: 'lookup', description: 'Looks things up.' };
    const replaced = await ok(server, SEND_TOOLS, { input: { threadId, content: 'Look it up', tools: [lookup] } });
    expect(toolNamesOf(api, fake.requests[1]!.body)).toEqual(['lookup']);
    expect((await toolRun(server, replaced.sendMessage.run.id)).tools).toEqual([{ name: 'lookup' }]);

    const none = await ok(server, SEND_TOOLS, { input: { threadId, content: 'No tools now', tools: [] } });
    expect(fake.requests[2]!.body).not.toHaveProperty('tools');
    expect((await toolRun(server, none.sendMessage.run.id)).tools).toEqual([]);

    await ok(server, SEND_TOOLS, { input: { threadId, content: 'Back to normal' } });
    expect(toolNamesOf(api, fake.requests[3]!.body)).toEqual(['get_weather', 'get_time']);
    const after = await ok(server, `query ($id: ID!) { assistant(id: $id) { tools { name } } }`, { id: assistantId });
    expect(after.assistant.tools).toEqual([{ name: 'get_weather' }, { name: 'get_time' }]);
  });
});
