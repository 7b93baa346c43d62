import { expect } from 'vitest';
import type { RecordedRequest } from './fake-provider.js';
import { ok, type GqlResult, type TestServer } from './helpers.js';

/** Function calling as the GraphQL tests drive it (not a test file itself). */

export const APIS = ['responses', 'chat'] as const;
export type Api = (typeof APIS)[number];

export const WEATHER = {
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};
export const TIME = { name: 'get_time' };

export const TOOL_RUN_FIELDS = /* GraphQL */ `
  id status expiresAt error { code message }
  requiredAction { toolCalls { id name arguments output } }
  toolCalls { id name arguments output }
  tools { name }
  usage { inputTokens outputTokens totalTokens }
  reply { id content status }
`;

export const TOOL_RUN = /* GraphQL */ `query ToolRun($id: ID!) { run(id: $id) { ${TOOL_RUN_FIELDS} } }`;

/** createThread that waits for its reply: it resolves when the run ends or requires action. */
export const CREATE_WAITING = /* GraphQL */ `
  mutation ($input: CreateThreadInput!) {
    createThread(input: $input) { thread { id } run { id } reply { id content status } }
  }
`;

export const SEND_TOOLS = /* GraphQL */ `
  mutation ($input: SendMessageInput!) {
    sendMessage(input: $input) { run { id status } reply { id content status } }
  }
`;

export const SUBMIT = /* GraphQL */ `
  mutation ($input: SubmitToolOutputsInput!) {
    submitToolOutputs(input: $input) { run { id status } reply { id content status } }
  }
`;

export async function toolRun(server: TestServer, runId: string): Promise<any> {
  return (await ok(server, TOOL_RUN, { id: runId })).run;
}

/**
 * Starts a thread whose first run offers `tools` and waits until it requires action (or ends);
 * returns the run as TOOL_RUN shows it.
 */
export async function startToolThread(
  server: TestServer,
  options: { content?: string; tools?: unknown[]; toolChoice?: unknown; parallelToolCalls?: boolean; assistantId?: string } = {},
): Promise<{ threadId: string; runId: string; run: any }> {
  const { content = 'Weather in Paris?', ...rest } = options;
  // `tools: undefined` given on purpose: the run gets the assistant's.
  const tools = 'tools' in options ? options.tools : [WEATHER, TIME];
  const data = await ok(server, CREATE_WAITING, { input: { messages: [{ role: 'USER', content }], ...rest, tools } });
  const runId = data.createThread.run.id;
  return { threadId: data.createThread.thread.id, runId, run: await toolRun(server, runId) };
}

export function submit(server: TestServer, runId: string, toolOutputs: { toolCallId: string; output: string }[]): Promise<GqlResult<any>> {
  return server.gql(SUBMIT, { input: { runId, toolOutputs } });
}

/** Submits outputs that must be accepted; returns the payload (its reply resolved when the run stopped again). */
export async function submitOk(server: TestServer, runId: string, toolOutputs: { toolCallId: string; output: string }[]): Promise<any> {
  return (await ok(server, SUBMIT, { input: { runId, toolOutputs } })).submitToolOutputs;
}

/** Expects BAD_USER_INPUT whose field (and message) names `field`. */
export function expectBadInput(res: GqlResult<unknown>, field: string): void {
  expect(res.errors, `expected an error naming ${field}`).toBeDefined();
  const [error] = res.errors!;
  expect(error!.extensions?.code, JSON.stringify(res.errors)).toBe('BAD_USER_INPUT');
  expect(error!.extensions?.field, JSON.stringify(res.errors)).toBe(field);
  expect(error!.message).toContain(field);
}

export interface WireRound {
  /** The calls the request replays, by provider call id. */
  calls: { id: string; name: string; arguments: string }[];
  /** The outputs it carries, by the provider call id they answer. */
  outputs: { id: string; output: string }[];
}

/**
 * The function calls and outputs a provider request carries, read from its own wire format
 * (Responses: function_call / function_call_output items; Chat: assistant tool_calls / role tool).
 */
export function wireRoundsOf(api: Api, req: RecordedRequest): WireRound {
  if (api === 'responses') {
    const items = req.body.input as any[];
    return {
      calls: items.filter((i) => i.type === 'function_call').map((i) => ({ id: i.call_id, name: i.name, arguments: i.arguments })),
      outputs: items.filter((i) => i.type === 'function_call_output').map((i) => ({ id: i.call_id, output: i.output })),
    };
  }
  const messages = req.body.messages as any[];
  return {
    calls: messages
      .filter((m) => m.role === 'assistant' && m.tool_calls)
      .flatMap((m) => m.tool_calls.map((c: any) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }))),
    outputs: messages.filter((m) => m.role === 'tool').map((m) => ({ id: m.tool_call_id, output: m.content })),
  };
}

/** The items/messages of a request as a list of kinds, to check their order. */
export function wireShape(api: Api, req: RecordedRequest): string[] {
  if (api === 'responses') return (req.body.input as any[]).map((i) => i.type ?? i.role);
  return (req.body.messages as any[]).map((m) => (m.tool_calls ? 'assistant+calls' : m.role));
}
