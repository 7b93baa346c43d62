import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMIT, removeTempDirs, startTestServer, type TestServer } from './helpers.js';
import { raw, sdk } from './v1-helpers.js';

/**
 * Malformed requests on every /v1 route are refused with OpenAI's envelope and a param naming
 * the field, never a 500; the GraphQL surface's rate limits hold here too.
 */

let server: TestServer;
let ids: { assistant: string; thread: string; message: string; run: string };

beforeAll(async () => {
  server = await startTestServer({ env: NO_RATE_LIMIT });
  const client = sdk(server);
  const assistant = await client.beta.assistants.create({ model: 'm' });
  const run = await client.beta.threads.createAndRunPoll({ assistant_id: assistant.id, thread: { messages: [{ role: 'user', content: 'Hi' }] } });
  const [message] = (await client.beta.threads.messages.list(run.thread_id)).data;
  ids = { assistant: assistant.id, thread: run.thread_id, message: message!.id, run: run.id };
});
afterAll(async () => {
  await server.stop();
  removeTempDirs();
});

const bodies: [string, unknown, string | null][] = [
  ['a JSON array', [], 'body'],
  ['a string', 'text', 'body'],
  ['null', null, 'body'],
  ['metadata not an object', { metadata: 'x' }, 'metadata'],
  ['a metadata value not a string', { metadata: { a: 1 } }, 'metadata.a'],
];

describe('malformed bodies', () => {
  const routes = () => [
    ['POST', '/assistants'],
    [`POST`, `/assistants/${ids.assistant}`],
    ['POST', '/threads'],
    ['POST', `/threads/${ids.thread}`],
    ['POST', `/threads/${ids.thread}/messages`],
    ['POST', `/threads/${ids.thread}/messages/${ids.message}`],
    ['POST', `/threads/${ids.thread}/runs`],
    ['POST', '/threads/runs'],
    ['POST', `/threads/${ids.thread}/runs/${ids.run}`],
    ['POST', `/threads/${ids.thread}/runs/${ids.run}/submit_tool_outputs`],
  ];

  it('every POST route answers 400 with the envelope, never 500', async () => {
    for (const [method, path] of routes()) {
      for (const [, body] of bodies) {
        const res = await raw(server, path!, { method, body: JSON.stringify(body) });
        const json = await res.json();
        expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 });
        expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      }
    }
  });

  it('each field is named as OpenAI spells it', async () => {
    const cases: [string, unknown, string][] = [
      ['/assistants', { tools: 'all' }, 'tools'],
      ['/assistants', { tools: [null] }, 'tools[0]'],
      ['/assistants', { tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].name'],
      ['/assistants', { temperature: 3 }, 'temperature'],
      ['/assistants', { top_p: 0.5 }, 'top_p'],
      ['/assistants', { response_format: { type: 'json_object' } }, 'response_format'],
      ['/assistants', { tool_resources: { code_interpreter: { file_ids: ['file_1'] } } }, 'tool_resources'],
      ['/threads', { messages: {} }, 'messages'],
      ['/threads', { messages: [{ role: 'system', content: 'x' }] }, 'messages[0].role'],
      ['/threads', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }] }, 'messages[0].content[0].type'],
      ['/threads', { messages: [{ role: 'user', content: 'x', attachments: [{ file_id: 'f' }] }] }, 'messages[0].attachments'],
      ['/threads', { messages: [{ role: 'user', content: '' }] }, 'messages[0].content'],
      [`/threads/${'THREAD'}/runs`, {}, 'assistant_id'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', tool_choice: 'sometimes' }, 'tool_choice'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', tool_choice: 'required' }, 'tool_choice.mode'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', truncation_strategy: { type: 'last_messages', last_messages: 0 } }, 'truncation_strategy.last_messages'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', truncation_strategy: { type: 'middle' } }, 'truncation_strategy.type'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', max_prompt_tokens: 1.5 }, 'max_prompt_tokens'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', additional_messages: [{ role: 'user' }] }, 'additional_messages[0].content'],
      [`/threads/${'THREAD'}/runs`, { assistant_id: 'ASSISTANT', stream: 'yes' }, 'stream'],
      ['/threads/runs', { assistant_id: 'ASSISTANT', thread: { messages: [{ role: 'user', content: 5 }] } }, 'thread.messages[0].content'],
      [`/threads/${'THREAD'}/runs/${'RUN'}/submit_tool_outputs`, { tool_outputs: [{ tool_call_id: 1 }] }, 'tool_outputs[0].tool_call_id'],
      [`/threads/${'THREAD'}/runs/${'RUN'}/submit_tool_outputs`, { tool_outputs: [] }, 'run_id'],
    ];
    for (const [template, body, param] of cases) {
      const path = template.replace('THREAD', ids.thread).replace('RUN', ids.run);
      const payload = JSON.parse(JSON.stringify(body).replace('ASSISTANT', ids.assistant));
      const res = await raw(server, path, { body: payload });
      const json = await res.json();
      expect({ path, body, status: res.status, param: json.error?.param }).toEqual({ path, body, status: 400, param });
    }
  });

  it('bad list queries are 400s naming the parameter', async () => {
    for (const [q, param] of [
      ['limit=abc', 'limit'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['order=up', 'order'],
      ['after=msg_unknown', 'after'],
    ]) {
      const res = await raw(server, `/threads/${ids.thread}/messages?${q}`);
      expect({ q, status: res.status, param: (await res.json()).error.param }).toEqual({ q, status: 400, param });
    }
    const steps = await raw(server, `/threads/${ids.thread}/runs/${ids.run}/steps?before=step_nope`);
    expect((await steps.json()).error.param).toBe('before');
  });

  it('ids of the wrong thread or kind are 404s', async () => {
    const other = await sdk(server).beta.threads.create();
    for (const path of [`/threads/${other.id}/messages/${ids.message}`, `/threads/${other.id}/runs/${ids.run}`, `/threads/${ids.thread}/runs/${ids.run}/steps/step_x`, `/assistants/${ids.thread}`]) {
      const res = await raw(server, path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
  });
});

describe('production mode', () => {
  it('CORS allows only CORS_ORIGINS on /v1 as on /graphql', async () => {
    const prod = await startTestServer({ env: { NODE_ENV: 'production', CORS_ORIGINS: 'http://app.example' } });
    try {
      const client = sdk(prod);
      expect((await client.beta.threads.create()).object).toBe('thread');
      const allowed = await raw(prod, '/assistants', { headers: { origin: 'http://app.example' } });
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.example');
      expect(allowed.headers.get('access-control-expose-headers')).toMatch(/openai-poll-after-ms/);
      const foreign = await raw(prod, '/assistants', { headers: { origin: 'http://evil.example' } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await prod.stop();
    }
  });
});

describe('rate limits', () => {
  it('over RATE_LIMIT_REQUESTS the SDK gets a RateLimitError (429, Retry-After)', async () => {
    const limited = await startTestServer({ env: { RATE_LIMIT_REQUESTS: '3' } });
    try {
      const client = sdk(limited);
      for (let i = 0; i < 3; i++) await client.beta.assistants.list();
      const refused = await client.beta.assistants.list().catch((e) => e);
      expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
      expect(refused).toMatchObject({ code: 'rate_limit_exceeded' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.stop();
    }
  });
});
