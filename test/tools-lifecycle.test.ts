import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeProvider, type FakeProvider } from './fake-provider.js';
import {
  codeOf,
  deferred,
  NO_RATE_LIMIT,
  ok,
  removeTempDirs,
  startTestServer,
  tempDatabaseFile,
  TEST_API_KEY,
  threadOf,
  within,
  type Subscription,
  type TestServer,
} from './helpers.js';
import { spawnServer, type ChildServer } from './process-helpers.js';
import { received, subscribe, TRANSPORTS, waitForEvent } from './stream-helpers.js';
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
  wireShape,
  type Api,
} from './tools-helpers.js';

/**
 * A run waiting for tool outputs as part of its thread's life: it holds the thread (REJECT,
 * ENQUEUE, INTERRUPT), can be cancelled, expires at its deadline, survives a restart (graceful
 * or SIGKILL) with its deadline, and runEvents follows it across a tool round to its end.
 */

const RUN_EVENTS_TOOLS = /* GraphQL */ `
  subscription ($runId: ID!) {
    runEvents(runId: $runId) {
      __typename seq
      ... on RunStatusEvent { run { id status expiresAt requiredAction { toolCalls { id name arguments } } } }
      ... on MessageEvent { message { id content status } }
      ... on MessageDeltaEvent { delta }
    }
  }
`;

const statusesOf = (sub: Subscription) =>
  received(sub, 'runEvents')
    .filter((e) => e.__typename === 'RunStatusEvent')
    .map((e) => e.run!.status);

const isStatus = (status: string) => (e: any) => e.__typename === 'RunStatusEvent' && e.run.status === status;

const SEND_NO_REPLY = SEND_TOOLS.replace('reply { id content status }', '');

describe.each(APIS)('%s: a run waiting for tool outputs', (api) => {
  let fake: FakeProvider;
  let server: TestServer;
  const extra: TestServer[] = [];
  const children: ChildServer[] = [];

  const start = (env: Record<string, string> = {}, databaseFile?: string) =>
    startTestServer({ provider: fake, llmApi: api, databaseFile, env: { ...NO_RATE_LIMIT, ...env } }).then((s) => (extra.push(s), s));

  beforeAll(async () => {
    fake = await startFakeProvider();
    server = await startTestServer({ provider: fake, llmApi: api, env: NO_RATE_LIMIT });
  });
  afterEach(async () => {
    for (const s of extra.splice(0)) await s.stop();
    for (const c of children.splice(0)) c.child.kill('SIGKILL');
  });
  afterAll(async () => {
    await server.stop();
    await fake.close();
    removeTempDirs();
  });
  beforeEach(() => fake.reset());

  /** A thread whose run waits for one get_time call, after writing `text`. */
  async function waitingRun(target: TestServer = server, text?: string) {
    fake.enqueue({ ...(text ? { text } : {}), toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_clock' }] });
    const started = await startToolThread(target, { content: 'What time is it?' });
    expect(started.run.status).toBe('REQUIRES_ACTION');
    return { ...started, callId: started.run.requiredAction.toolCalls[0].id as string };
  }

  it('holds the thread: REJECT is THREAD_BUSY, ENQUEUE runs after the tool run completes', async () => {
    const { threadId, runId, callId } = await waitingRun();
    expect((await threadOf(server, threadId)).activeRun).toEqual({ id: runId, status: 'REQUIRES_ACTION' });

    const rejected = await server.gql(SEND_NO_REPLY, { input: { threadId, content: 'Hello?', onActiveRun: 'REJECT' } });
    expect(codeOf(rejected)).toBe('THREAD_BUSY');

    const queued = (await ok(server, SEND_NO_REPLY, { input: { threadId, content: 'And the date?', onActiveRun: 'ENQUEUE' } })).sendMessage.run;
    expect(queued.status).toBe('QUEUED');
    expect(fake.requests).toHaveLength(1);

    fake.enqueue({ text: 'It is noon.' }, { text: 'It is Monday.' });
    const done = await submitOk(server, runId, [{ toolCallId: callId, output: '12:00' }]);
    expect(done.reply).toMatchObject({ content: 'It is noon.', status: 'COMPLETED' });
    await within(server.services.runs.waitForEnd(queued.id), 3000, 'the queued run to end');
    expect(await toolRun(server, queued.id)).toMatchObject({ status: 'COMPLETED', reply: { content: 'It is Monday.' } });
    expect(fake.requests).toHaveLength(3);
    // The queued run sees the tool run's whole answer: its call, its output, then its text.
    expect(wireShape(api, fake.requests[2]!)).toEqual(
      api === 'responses'
        ? ['user', 'function_call', 'function_call_output', 'assistant', 'user']
        : ['user', 'assistant+calls', 'tool', 'assistant', 'user'],
    );
  });

  it('INTERRUPT cancels the waiting run and starts the new one', async () => {
    const { threadId, runId, callId, run } = await waitingRun(server, 'Checking the clock. ');
    fake.enqueue({ text: 'Forget the time.' });
    const sent = await ok(server, SEND_TOOLS, { input: { threadId, content: 'Never mind', onActiveRun: 'INTERRUPT' } });
    expect(sent.sendMessage.reply).toMatchObject({ content: 'Forget the time.', status: 'COMPLETED' });
    expect(await toolRun(server, runId)).toMatchObject({
      status: 'CANCELLED',
      requiredAction: null,
      expiresAt: null,
      reply: { id: run.reply.id, content: 'Checking the clock. ', status: 'INCOMPLETE' },
    });
    expectBadInput(await submit(server, runId, [{ toolCallId: callId, output: 'late' }]), 'input.runId');
    expect(fake.requests).toHaveLength(2);
  });

  it('cancelRun while waiting: CANCELLED, its reply INCOMPLETE, the thread free again', async () => {
    const { threadId, runId, callId } = await waitingRun(server, 'One moment. ');
    const cancelled = await ok(server, `mutation ($id: ID!) { cancelRun(input: { runId: $id }) { run { id status reply { content status } } } }`, { id: runId });
    expect(cancelled.cancelRun.run).toEqual({ id: runId, status: 'CANCELLED', reply: { content: 'One moment. ', status: 'INCOMPLETE' } });
    expect(fake.aborted).toBe(0);
    expect((await threadOf(server, threadId)).activeRun).toBeNull();
    expectBadInput(await submit(server, runId, [{ toolCallId: callId, output: 'late' }]), 'input.runId');

    fake.enqueue({ text: 'Free again.' });
    const next = await ok(server, SEND_TOOLS, { input: { threadId, content: 'Still there?', onActiveRun: 'REJECT' } });
    expect(next.sendMessage.reply).toMatchObject({ content: 'Free again.', status: 'COMPLETED' });
    // The cancelled run's unanswered call is not sent again.
    expect(wireShape(api, fake.requests[1]!)).not.toContain(api === 'responses' ? 'function_call' : 'assistant+calls');
  });

  it.each(TRANSPORTS)('runEvents (%s) follows a tool round: IN_PROGRESS, REQUIRES_ACTION with the calls, IN_PROGRESS, COMPLETED', async (transport) => {
    const hold = deferred();
    fake.enqueue({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lima"}' }], pauseAfter: 0, resumeWhen: hold.promise }, { text: 'Warm in Lima.' });
    const created = await ok(server, `mutation ($input: CreateThreadInput!) { createThread(input: $input) { run { id } } }`, {
      input: { messages: [{ role: 'USER', content: 'Lima?' }], tools: [WEATHER] },
    });
    const runId = created.createThread.run.id;
    await fake.waitForRequests(1);
    const sub = subscribe(transport, server.url, RUN_EVENTS_TOOLS, { runId });
    try {
      await sub.waitFor(1);
      expect(statusesOf(sub)).toEqual(['IN_PROGRESS']);
      hold.resolve();

      const at = await waitForEvent(sub, 'runEvents', isStatus('REQUIRES_ACTION'));
      const waiting = received(sub, 'runEvents')[at]!.run as any;
      expect(waiting.requiredAction.toolCalls).toEqual([{ id: expect.stringMatching(/^call_/), name: 'get_weather', arguments: '{"city":"Lima"}' }]);
      expect(waiting.expiresAt).not.toBeNull();

      // The subscription is still open: it goes on to carry the rest of the run.
      await submitOk(server, runId, [{ toolCallId: waiting.requiredAction.toolCalls[0].id, output: '28C' }]);
      await within(sub.completed, 5000, 'runEvents to complete');
      expect(statusesOf(sub)).toEqual(['IN_PROGRESS', 'REQUIRES_ACTION', 'IN_PROGRESS', 'COMPLETED']);
      const events = received(sub, 'runEvents');
      const resumed = events.filter(isStatus('IN_PROGRESS'))[1]!.run as any;
      expect(resumed).toMatchObject({ requiredAction: null, expiresAt: null });
      // The terminal status is the last event.
      expect(events.at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { status: 'COMPLETED' } });
      const reply = events.filter((e) => e.__typename === 'MessageEvent').at(-1)!;
      expect(reply.message).toMatchObject({ content: 'Warm in Lima.', status: 'COMPLETED' });
    } finally {
      sub.close();
    }
  });

  it.each(TRANSPORTS)('expiry (%s): EXPIRED after TOOL_OUTPUTS_TIMEOUT_MS, subscribers get it and complete; a late submission is refused', async (transport) => {
    const short = await start({ TOOL_OUTPUTS_TIMEOUT_MS: '300' });
    // Held before its first chunk, so the subscription is open before the deadline is even set.
    const hold = deferred();
    fake.enqueue({ text: 'Let me see. ', toolCalls: [{ name: 'get_time', arguments: '{}' }], pauseAfter: 0, resumeWhen: hold.promise });
    const created = await ok(short, `mutation ($input: CreateThreadInput!) { createThread(input: $input) { thread { id } run { id } } }`, {
      input: { messages: [{ role: 'USER', content: 'Time?' }], tools: [TIME] },
    });
    const { thread, run } = created.createThread;
    await fake.waitForRequests(1);
    const sub = subscribe(transport, short.url, RUN_EVENTS_TOOLS, { runId: run.id });
    let deadline: number;
    let callId: string;
    try {
      await sub.waitFor(1);
      const before = Date.now();
      hold.resolve();
      await within(sub.completed, 5000, 'runEvents to complete');
      expect(statusesOf(sub)).toEqual(['IN_PROGRESS', 'REQUIRES_ACTION', 'EXPIRED']);
      const events = received(sub, 'runEvents');
      const waiting = events.find(isStatus('REQUIRES_ACTION'))!.run as any;
      deadline = Date.parse(waiting.expiresAt);
      callId = waiting.requiredAction.toolCalls[0].id;
      expect(deadline).toBeGreaterThanOrEqual(before + 300);
      expect(events.at(-1)).toMatchObject({ __typename: 'RunStatusEvent', run: { status: 'EXPIRED', requiredAction: null } });
    } finally {
      sub.close();
    }
    const expired = await ok(short, `query ($id: ID!) { run(id: $id) { status completedAt expiresAt reply { content status } } }`, { id: run.id });
    expect(expired.run).toMatchObject({ status: 'EXPIRED', expiresAt: null, reply: { content: 'Let me see. ', status: 'INCOMPLETE' } });
    expect(Date.parse(expired.run.completedAt)).toBeGreaterThanOrEqual(deadline);
    expectBadInput(await submit(short, run.id, [{ toolCallId: callId, output: 'late' }]), 'input.runId');
    expect((await threadOf(short, thread.id)).activeRun).toBeNull();
    expect(fake.requests).toHaveLength(1);
  });

  it('survives a graceful stop: still REQUIRES_ACTION after the restart, and its outputs complete it', async () => {
    const databaseFile = tempDatabaseFile();
    const first = await startTestServer({ provider: fake, llmApi: api, databaseFile, env: NO_RATE_LIMIT });
    const { runId, callId, run } = await waitingRun(first);
    await first.stop();

    const second = await start({}, databaseFile);
    expect(await toolRun(second, runId)).toMatchObject({ status: 'REQUIRES_ACTION', error: null, expiresAt: run.expiresAt, requiredAction: run.requiredAction });
    fake.enqueue({ text: 'Half past.' });
    const done = await submitOk(second, runId, [{ toolCallId: callId, output: '12:30' }]);
    expect(done.reply).toMatchObject({ content: 'Half past.', status: 'COMPLETED' });
    expect(wireShape(api, fake.requests[1]!)).toEqual(
      api === 'responses' ? ['user', 'function_call', 'function_call_output'] : ['user', 'assistant+calls', 'tool'],
    );
  });

  it('survives SIGKILL: still REQUIRES_ACTION (not FAILED) after the restart, and its outputs complete it', async () => {
    const databaseFile = tempDatabaseFile();
    const child = await spawnServer({
      env: { DATABASE_URL: databaseFile, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: TEST_API_KEY, LLM_API: api, FLUSH_INTERVAL_MS: '20', ...NO_RATE_LIMIT },
    });
    children.push(child);
    fake.enqueue({ text: 'Looking. ', toolCalls: [{ name: 'get_time', arguments: '{}', id: 'call_killed' }] });
    const res = await fetch(child.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: CREATE_WAITING, variables: { input: { messages: [{ role: 'USER', content: 'Time?' }], tools: [TIME] } } }),
    });
    const created = ((await res.json()) as any).data.createThread;
    expect(created.reply).toMatchObject({ content: 'Looking. ' });
    child.child.kill('SIGKILL');
    await once(child.child, 'exit');

    const second = await start({}, databaseFile);
    const run = await toolRun(second, created.run.id);
    expect(run).toMatchObject({ status: 'REQUIRES_ACTION', error: null, reply: { content: 'Looking. ' } });
    fake.enqueue({ text: 'Noon.' });
    const done = await submitOk(second, created.run.id, [{ toolCallId: run.requiredAction.toolCalls[0].id, output: '12:00' }]);
    expect(done.reply).toMatchObject({ content: 'Looking. Noon.', status: 'COMPLETED' });
    expect(fake.requests.at(-1)!.body[api === 'responses' ? 'input' : 'messages']).toContainEqual(
      api === 'responses' ? { type: 'function_call_output', call_id: 'call_killed', output: '12:00' } : { role: 'tool', tool_call_id: 'call_killed', content: '12:00' },
    );
  });

  it('its deadline still applies after a restart (the stored one, not a new one)', async () => {
    const databaseFile = tempDatabaseFile();
    const first = await startTestServer({ provider: fake, llmApi: api, databaseFile, env: { ...NO_RATE_LIMIT, TOOL_OUTPUTS_TIMEOUT_MS: '400' } });
    const { runId, run } = await waitingRun(first);
    await first.stop();

    // The restarted server's own timeout is 10 minutes: only the stored deadline can end the run here.
    const second = await start({ TOOL_OUTPUTS_TIMEOUT_MS: '600000' }, databaseFile);
    const sub = subscribe('sse', second.url, RUN_EVENTS_TOOLS, { runId });
    try {
      await within(sub.completed, 5000, 'runEvents to complete');
      expect(statusesOf(sub).at(-1)).toBe('EXPIRED');
    } finally {
      sub.close();
    }
    const expired = await ok(second, `query ($id: ID!) { run(id: $id) { status completedAt } }`, { id: runId });
    expect(expired.run.status).toBe('EXPIRED');
    expect(Date.parse(expired.run.completedAt)).toBeGreaterThanOrEqual(Date.parse(run.expiresAt));
  });
});

describe('the offline model (no provider)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: NO_RATE_LIMIT });
  });
  afterAll(async () => {
    await server.stop();
    removeTempDirs();
  });

  it('`call get_weather {"city":"Paris"}` requires action; the output comes back in the reply', async () => {
    const { runId, run } = await startToolThread(server, { content: 'call get_weather {"city":"Paris"}', tools: [WEATHER] });
    expect(run).toMatchObject({ status: 'REQUIRES_ACTION', requiredAction: { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}', output: null }] } });
    const done = await submitOk(server, runId, [{ toolCallId: run.requiredAction.toolCalls[0].id, output: '{"celsius":19}' }]);
    expect(done.run).toEqual({ id: runId, status: 'IN_PROGRESS' });
    expect(done.reply.status).toBe('COMPLETED');
    expect(done.reply.content).toContain('get_weather');
    expect(done.reply.content).toContain('{"celsius":19}');
    expect((await toolRun(server, runId)).status).toBe('COMPLETED');
  });
});
