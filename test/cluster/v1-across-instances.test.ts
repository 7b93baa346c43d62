import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { deferred } from '../helpers.js';
import { textOf } from '../v1-helpers.js';
import { describeCluster, printLogsOnFailure, startCluster, type Cluster, type Instance } from './harness.js';

/**
 * The Assistants API (/v1) on two instances, through the real openai SDK: a run executing on A
 * is streamed and polled through B, an Idempotency-Key retry sent to the other instance gets
 * the original run (never a second one), and cancel / submit_tool_outputs on B act on the run
 * where it executes.
 */
describeCluster('/v1 across two instances', () => {
  let cluster: Cluster;
  let a: Instance;
  let b: Instance;
  let onA: OpenAI;
  let onB: OpenAI;
  let assistant: OpenAI.Beta.Assistant;
  const gates: (() => void)[] = [];
  printLogsOnFailure(() => cluster);

  const sdk = (instance: Instance, options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
    new OpenAI({ baseURL: instance.url.replace(/\/graphql$/, '/v1'), apiKey: 'sk-not-a-threadql-key', maxRetries: 0, ...options });
  const gate = () => {
    const d = deferred();
    gates.push(d.resolve);
    return d;
  };

  beforeAll(async () => {
    cluster = await startCluster({ instances: 2 });
    [a, b] = cluster.instances as [Instance, Instance];
    onA = sdk(a);
    onB = sdk(b);
    assistant = await onA.beta.assistants.create({ model: 'gpt-test', instructions: 'Answer briefly.' });
  }, 60_000);
  afterAll(async () => {
    for (const open of gates) open();
    await cluster?.close();
  });
  beforeEach(() => cluster.provider.reset());

  it('runs.stream on B with the Idempotency-Key of a run executing on A streams that run, whole and once', async () => {
    const held = gate();
    cluster.provider.enqueue({ chunks: ['One ', 'answer, ', 'streamed ', 'across.'], pauseAfter: 2, resumeWhen: held.promise });
    const thread = await onA.beta.threads.create({ messages: [{ role: 'user', content: 'Hello from A.' }] });
    const headers = { 'Idempotency-Key': 'v1-cluster-stream' };
    const created = await onA.beta.threads.runs.create(thread.id, { assistant_id: assistant.id }, { headers });
    await cluster.provider.waitForRequests(1);

    // The retry goes to B: the original run, its events replayed from A's window and then live.
    const stream = onB.beta.threads.runs.stream(thread.id, { assistant_id: assistant.id }, { headers });
    let text = '';
    stream.on('textDelta', (delta) => {
      text += delta.value ?? '';
      held.resolve();
    });
    const run = await stream.finalRun();
    expect(run).toMatchObject({ id: created.id, status: 'completed', thread_id: thread.id });
    expect(text).toBe('One answer, streamed across.');
    expect((await stream.finalMessages()).map(textOf)).toEqual(['One answer, streamed across.']);
    expect(cluster.provider.requests).toHaveLength(1);
    expect(await cluster.sql(`select count(*) from runs where thread_id = '${thread.id}'`)).toEqual([['1']]);
  });

  it('createAndRunPoll on B with the Idempotency-Key of A\'s createAndRun returns the original run and polls it to its end', async () => {
    const held = gate();
    cluster.provider.enqueue({ chunks: ['Polled ', 'from ', 'B.'], pauseAfter: 1, resumeWhen: held.promise });
    const params = { assistant_id: assistant.id, thread: { messages: [{ role: 'user' as const, content: 'Start on A.' }] } };
    const headers = { 'Idempotency-Key': 'v1-cluster-poll' };
    const original = await onA.beta.threads.createAndRun(params, { headers });
    await cluster.provider.waitForRequests(1);

    // B's answer to the retried POST is read before the provider goes on: the run is still A's, in progress.
    let retried: { id: string; status: string } | undefined;
    const watched = sdk(b, {
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (init?.method === 'POST') {
          retried = (await response.clone().json()) as { id: string; status: string };
          held.resolve();
        }
        return response;
      },
    });
    const run = await watched.beta.threads.createAndRunPoll(params, { headers });
    expect(retried).toMatchObject({ id: original.id, status: 'in_progress' });
    expect(run).toMatchObject({ id: original.id, thread_id: original.thread_id, status: 'completed' });
    const [reply] = (await onB.beta.threads.messages.list(run.thread_id, { limit: 1 })).data;
    expect(textOf(reply!)).toBe('Polled from B.');
    expect(cluster.provider.requests).toHaveLength(1);
    expect(await cluster.sql(`select count(*) from threads where id in (select thread_id from runs where idempotency_key = 'v1-cluster-poll')`)).toEqual([['1']]);
  });

  it('the same runs.create sent to A and B at once: one run, both answers name it, one provider call each thread', async () => {
    cluster.provider.setDefault({ text: 'Answered once.' });
    const threads = await Promise.all(Array.from({ length: 8 }, (_, i) => onA.beta.threads.create({ messages: [{ role: 'user', content: `question ${i}` }] })));
    const pairs = await Promise.all(
      threads.map((thread, i) => {
        const headers = { 'Idempotency-Key': `v1-cluster-race-${i}` };
        return Promise.all([onA, onB].map((client) => client.beta.threads.runs.create(thread.id, { assistant_id: assistant.id }, { headers })));
      }),
    );
    for (const [fromA, fromB] of pairs) {
      expect(fromB!.id).toBe(fromA!.id);
      expect((await onB.beta.threads.runs.poll(fromA!.id, { thread_id: fromA!.thread_id })).status).toBe('completed');
    }
    expect(cluster.provider.requests).toHaveLength(8);
  });

  it('cancel on B ends the run executing on A; submit_tool_outputs on B resumes a run that waits on A', async () => {
    cluster.provider.enqueue({ chunks: ['only ', 'this ', 'much'], stallAfter: 2 });
    const thread = await onA.beta.threads.create({ messages: [{ role: 'user', content: 'A question that hangs.' }] });
    const hanging = await onA.beta.threads.runs.create(thread.id, { assistant_id: assistant.id });
    await cluster.provider.waitForRequests(1);
    const cancelled = await onB.beta.threads.runs.cancel(hanging.id, { thread_id: thread.id });
    expect(cancelled).toMatchObject({ id: hanging.id, status: 'cancelled' });
    await cluster.provider.waitForAborted(1);

    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
    cluster.provider.enqueue({ toolCalls: [{ name: 'lookup', arguments: '{}', id: 'call_v1_cluster' }] }, { text: 'Found it.' });
    const waiting = await onA.beta.threads.runs.createAndPoll(thread.id, { assistant_id: assistant.id, tools });
    expect(waiting.status).toBe('requires_action');
    const callId = waiting.required_action!.submit_tool_outputs.tool_calls[0]!.id;
    const resumed = onB.beta.threads.runs.submitToolOutputsStream(waiting.id, { thread_id: thread.id, tool_outputs: [{ tool_call_id: callId, output: 'the answer' }] });
    expect(await resumed.finalRun()).toMatchObject({ id: waiting.id, status: 'completed' });
    expect((await resumed.finalMessages()).map(textOf)).toEqual(['Found it.']);
  });
});
