import { BadUserInputError } from '../errors.js';
import type { IdPageArgs } from '../services/pagination.js';

/**
 * OpenAI's request shapes → the services' inputs. Only the shapes are checked here (what the
 * Assistants API accepts, and what threadql does not run); limits and rules are the services'.
 * Errors name the field as the caller sent it (`tools[1].type`).
 */

type Body = Record<string, unknown>;

const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown) => v !== undefined && v !== null;

export function objectBody(body: unknown): Body {
  if (!isObject(body)) throw new BadUserInputError('body', 'must be a JSON object');
  return body;
}

/** Options threadql does not implement are refused unless they ask for the default. */
function refuseUnsupported(body: Body, path: string): void {
  const p = (k: string) => (path ? `${path}.${k}` : k);
  const resources = body.tool_resources;
  if (isObject(resources) && Object.values(resources).some((r) => isObject(r) && Object.values(r).some((v) => (Array.isArray(v) ? v.length > 0 : given(v))))) {
    throw new BadUserInputError(p('tool_resources'), 'files are not supported by threadql (no code_interpreter or file_search)');
  }
  if (given(body.top_p) && body.top_p !== 1) throw new BadUserInputError(p('top_p'), 'is not supported by threadql (use temperature)');
  const format = body.response_format;
  if (given(format) && format !== 'auto' && !(isObject(format) && format.type === 'text')) {
    throw new BadUserInputError(p('response_format'), 'only "auto" and { type: "text" } are supported by threadql');
  }
  if (given(body.reasoning_effort)) throw new BadUserInputError(p('reasoning_effort'), 'is not supported by threadql');
}

export function toolsIn(value: unknown, path = 'tools') {
  if (!given(value)) return undefined;
  if (!Array.isArray(value)) throw new BadUserInputError(path, 'must be a list of tools');
  return value.map((tool, i) => {
    if (!isObject(tool)) throw new BadUserInputError(`${path}[${i}]`, 'must be an object');
    if (tool.type !== 'function') {
      const what = typeof tool.type === 'string' ? `${tool.type} tools are not supported by threadql` : 'is required';
      throw new BadUserInputError(`${path}[${i}].type`, `${what}: only "function" tools run here`);
    }
    const fn = tool.function;
    if (!isObject(fn)) throw new BadUserInputError(`${path}[${i}].function`, 'must be an object with a name');
    return { name: fn.name, description: fn.description, parameters: fn.parameters, strict: fn.strict };
  });
}

export function toolChoiceIn(value: unknown, path = 'tool_choice') {
  if (!given(value)) return undefined;
  if (value === 'auto' || value === 'none' || value === 'required') return { mode: value.toUpperCase() };
  if (isObject(value) && value.type === 'function' && isObject(value.function)) return { mode: 'FUNCTION', functionName: value.function.name };
  throw new BadUserInputError(path, 'must be "none", "auto", "required" or { type: "function", function: { name } }');
}

export function truncationIn(value: unknown, path = 'truncation_strategy') {
  if (!given(value)) return undefined;
  if (!isObject(value) || (value.type !== 'auto' && value.type !== 'last_messages')) {
    throw new BadUserInputError(`${path}.type`, 'must be "auto" or "last_messages"');
  }
  return { type: value.type === 'auto' ? 'AUTO' : 'LAST_MESSAGES', lastMessages: value.last_messages };
}

/** A string, or text parts (joined); images are refused. */
function contentIn(value: unknown, path: string): unknown {
  if (!Array.isArray(value)) return value;
  return value
    .map((part, i) => {
      if (!isObject(part)) throw new BadUserInputError(`${path}[${i}]`, 'must be a content part');
      if (part.type !== 'text') throw new BadUserInputError(`${path}[${i}].type`, `${String(part.type)} parts are not supported by threadql: only text`);
      if (typeof part.text !== 'string') throw new BadUserInputError(`${path}[${i}].text`, 'must be a string');
      return part.text;
    })
    .join('\n\n');
}

export function messageIn(value: unknown, path = '') {
  const p = (k: string) => (path ? `${path}.${k}` : k);
  if (!isObject(value)) throw new BadUserInputError(path || 'body', 'must be a message object');
  if (value.role !== 'user' && value.role !== 'assistant') throw new BadUserInputError(p('role'), 'must be "user" or "assistant"');
  if (Array.isArray(value.attachments) && value.attachments.length > 0) throw new BadUserInputError(p('attachments'), 'files are not supported by threadql');
  return { role: value.role.toUpperCase(), content: contentIn(value.content, p('content')), metadata: value.metadata };
}

function messagesIn(value: unknown, path: string) {
  if (!given(value)) return undefined;
  if (!Array.isArray(value)) throw new BadUserInputError(path, 'must be a list of messages');
  return value.map((m, i) => messageIn(m, `${path}[${i}]`));
}

export function assistantIn(body: Body) {
  refuseUnsupported(body, '');
  return {
    name: body.name,
    description: body.description,
    model: body.model,
    instructions: body.instructions,
    temperature: body.temperature,
    tools: toolsIn(body.tools),
    metadata: body.metadata,
  };
}

export function threadIn(body: Body, path = '') {
  refuseUnsupported(body, path);
  return { messages: messagesIn(body.messages, path ? `${path}.messages` : 'messages'), metadata: body.metadata };
}

/** runs.create and createAndRun's run fields. */
export function runIn(body: Body, idempotencyKey: string | null) {
  refuseUnsupported(body, '');
  if (given(body.stream) && typeof body.stream !== 'boolean') throw new BadUserInputError('stream', 'must be a boolean');
  return {
    assistantId: body.assistant_id,
    model: body.model,
    instructions: body.instructions,
    additionalInstructions: body.additional_instructions,
    additionalMessages: messagesIn(body.additional_messages, 'additional_messages'),
    tools: toolsIn(body.tools),
    toolChoice: toolChoiceIn(body.tool_choice),
    parallelToolCalls: body.parallel_tool_calls,
    temperature: body.temperature,
    truncationStrategy: truncationIn(body.truncation_strategy),
    maxPromptTokens: body.max_prompt_tokens,
    maxCompletionTokens: body.max_completion_tokens,
    metadata: body.metadata,
    idempotencyKey,
  };
}

export function toolOutputsIn(body: Body) {
  if (!Array.isArray(body.tool_outputs)) throw new BadUserInputError('tool_outputs', 'must be a list of { tool_call_id, output }');
  return body.tool_outputs.map((o, i) => {
    if (!isObject(o) || typeof o.tool_call_id !== 'string') throw new BadUserInputError(`tool_outputs[${i}].tool_call_id`, 'must be a string');
    if (typeof o.output !== 'string') throw new BadUserInputError(`tool_outputs[${i}].output`, 'must be a string');
    return { toolCallId: o.tool_call_id, output: o.output };
  });
}

/** `limit`, `order`, `after`, `before` from the query string. */
export function listArgs(query: URLSearchParams): IdPageArgs {
  const limitText = query.get('limit');
  const limit = limitText === null ? null : Number(limitText);
  if (limit !== null && !Number.isInteger(limit)) throw new BadUserInputError('limit', 'must be an integer between 1 and 100');
  const order = query.get('order');
  if (order !== null && order !== 'asc' && order !== 'desc') throw new BadUserInputError('order', 'must be "asc" or "desc"');
  return { limit, order, after: query.get('after'), before: query.get('before') };
}
