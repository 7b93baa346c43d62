import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';

/**
 * A real HTTP server speaking OpenAI's wire format (Responses and Chat Completions, SSE
 * streaming) with injectable faults, so every test goes through the real `openai` SDK.
 */

export interface RecordedRequest {
  path: string;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: any;
  headers: IncomingHttpHeaders;
}

/** A function call the fake model makes. */
export interface FakeToolCall {
  name: string;
  /** JSON text; a string is streamed in up to 3 pieces, an array as exactly these pieces. */
  arguments: string | string[];
  /** The provider's call id (`call_id` / `tool_calls[].id`); default `call_<random>`. */
  id?: string;
}

export interface FakeBehaviour {
  /** Reply text; default 'Hello from the fake provider.', or none when `toolCalls` are given. */
  text?: string;
  /** Explicit delta chunks; default: `text` split into words, each keeping its following space. */
  chunks?: string[];
  /**
   * The model refuses: these refusal pieces follow the text, in OpenAI's wire format (Responses:
   * a `refusal` content part with `response.refusal.delta`/`.done`; chat: `delta.refusal`).
   * With `chunks: []` the refusal is the whole answer, as it usually is.
   */
  refusal?: string[];
  /**
   * The model calls these functions after its text (several: parallel calls), in OpenAI's wire
   * format. Responses: one `function_call` output item each (`output_item.added`, arguments
   * `.delta`s, `.done`, `output_item.done`), all of them in `response.completed`'s output.
   * Chat: `delta.tool_calls` pieces by `index` (id, type and name first), then finish_reason
   * 'tool_calls' (unless `finishReason` says otherwise).
   */
  toolCalls?: FakeToolCall[];
  /** Answer with this HTTP error status and an OpenAI-style `{ error: { message, type, code } }` body. */
  status?: number;
  errorMessage?: string;
  /**
   * `retry-after` header for error statuses. Without it the fake sends `retry-after-ms: 1`, so
   * the SDK's retries cost nothing in tests (its own backoff starts at 0.5 s).
   */
  retryAfter?: string;
  /** Delay before the response starts, headers included (exercises the SDK's own timeout). */
  delayFirstMs?: number;
  /** Never answer, not even headers: the socket stays open until the client aborts or reset()/close(). */
  noHeaders?: boolean;
  /** Delay between two delta chunks. */
  paceMs?: number;
  /** Destroy the socket after N delta chunks. */
  cutAfter?: number;
  /** Stop sending after N delta chunks, keep the socket open until the client aborts or reset()/close(). */
  stallAfter?: number;
  /** After N delta chunks, wait for `resumeWhen` and go on (a deterministic "mid-run" point). */
  pauseAfter?: number;
  resumeWhen?: Promise<unknown>;
  /** Send an in-stream error after N delta chunks (Responses: `response.failed` by default, or `error`). */
  errorEventAfter?: number;
  errorEvent?: 'response.failed' | 'error';
  /** Send a non-JSON data line after N delta chunks. */
  malformedAfter?: number;
  /**
   * End the stream without the completed/incomplete event (Responses) or finish_reason (chat);
   * whatever comes before it (the text's and calls' own done events) is still sent.
   */
  omitFinal?: boolean;
  /** Chat: the finish_reason sent; Responses: 'length'/'content_filter' end `response.incomplete`. */
  finishReason?: 'stop' | 'length' | 'content_filter' | 'tool_calls';
  /** Reported usage; default input ≈ request characters / 4, output = number of chunks. */
  usage?: { input: number; output: number };
  /** Chat: send no usage chunk even when asked (Ollama, llama.cpp and others may not). */
  omitUsage?: boolean;
  onRequest?: (req: RecordedRequest) => void;
}

export interface FakeProvider {
  /** Base URL including `/v1`, to pass as OPENAI_BASE_URL / baseURL. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Responses the client closed before they ended (cancel, idle timeout). */
  readonly aborted: number;
  /** Responses still being written (streaming, stalled, paused or delayed). */
  readonly inFlight: number;
  /** Behaviour for requests when the queue is empty. */
  setDefault(b: FakeBehaviour): void;
  /** Each request takes the next enqueued behaviour (one per HTTP request, retries included). */
  enqueue(...b: FakeBehaviour[]): void;
  waitForRequests(count?: number, timeoutMs?: number): Promise<void>;
  waitForAborted(count?: number, timeoutMs?: number): Promise<void>;
  /** Ends in-flight responses and clears requests, queue, default and counters. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_TEXT = 'Hello from the fake provider.';

interface Exchange {
  res: ServerResponse;
  /** Set when the fake itself ended the response, so it does not count as a client abort. */
  byServer: boolean;
  closed: boolean;
}

export async function startFakeProvider(): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const queue: FakeBehaviour[] = [];
  const open = new Set<Exchange>();
  const changes = new EventEmitter().setMaxListeners(0);
  let fallback: FakeBehaviour = {};
  let aborted = 0;

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await text(req);
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = { path: req.url ?? '', body, headers: req.headers };
    requests.push(recorded);
    const b = queue.shift() ?? fallback;
    b.onRequest?.(recorded);
    changes.emit('change');

    const ex: Exchange = { res, byServer: false, closed: false };
    open.add(ex);
    res.on('close', () => {
      ex.closed = true;
      open.delete(ex);
      if (!res.writableFinished && !ex.byServer) aborted++;
      changes.emit('change');
    });

    if (b.noHeaders) return;
    if (b.delayFirstMs) await sleep(b.delayFirstMs);
    if (ex.closed) return;
    const kind = recorded.path.startsWith('/v1/responses')
      ? 'responses'
      : recorded.path.startsWith('/v1/chat/completions')
        ? 'chat'
        : null;
    if (!kind || req.method !== 'POST') return sendError(res, 404, { errorMessage: `Unknown route ${req.method} ${recorded.path}` });
    if (body === undefined) return sendError(res, 400, { errorMessage: 'We could not parse the JSON body of your request.' });
    if (b.status) return sendError(res, b.status, b);
    await stream(ex, kind, body, b);
  }

  async function stream(ex: Exchange, kind: 'responses' | 'chat', body: any, b: FakeBehaviour): Promise<void> {
    const { res } = ex;
    const calls = (b.toolCalls ?? []).map(toWireCall);
    const text = b.chunks ? b.chunks.join('') : (b.text ?? (calls.length > 0 ? '' : DEFAULT_TEXT));
    const chunks = b.chunks ?? text.split(/(?<=\s)(?=\S)/).filter((c) => c !== '');
    const input = b.usage?.input ?? Math.max(1, Math.ceil(JSON.stringify(body.input ?? body.messages ?? '').length / 4));
    const output = b.usage?.output ?? chunks.length + calls.reduce((n, c) => n + c.pieces.length, 0);
    const wire =
      kind === 'responses'
        ? responsesWire(body, text, { input, output }, b.refusal, calls)
        : chatWire(body, { input, output }, !b.omitUsage, b.refusal, calls, chunks.length > 0);

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': 'req_fake' });
    const write = (s: string) => new Promise<void>((resolve) => (ex.closed ? resolve() : res.write(s, () => resolve())));

    for (const s of wire.start) await write(s);
    for (let i = 0; i <= chunks.length; i++) {
      if (ex.closed) return;
      if (b.cutAfter === i) {
        ex.byServer = true;
        res.socket?.destroy();
        return;
      }
      if (b.stallAfter === i) return; // reset()/close() or the client ends it
      if (b.pauseAfter === i) await b.resumeWhen;
      if (b.errorEventAfter === i) {
        await write(wire.error(b.errorMessage ?? 'The model failed to generate a response.', b.errorEvent));
        return end(ex);
      }
      if (b.malformedAfter === i) {
        await write(wire.malformed);
        return end(ex);
      }
      if (i === chunks.length) break;
      if (i > 0 && b.paceMs) await sleep(b.paceMs);
      if (ex.closed) return;
      await write(wire.delta(chunks[i]!));
    }
    const reason = b.finishReason ?? (calls.length > 0 ? 'tool_calls' : 'stop');
    for (const s of b.omitFinal ? wire.truncatedEnd(reason) : wire.end(reason)) await write(s);
    end(ex);
  }

  function end(ex: Exchange): void {
    if (ex.closed) return;
    ex.byServer = true;
    ex.res.end();
  }

  function sendError(res: ServerResponse, status: number, b: FakeBehaviour): void {
    const known: Record<number, [string, string, string | null]> = {
      400: ['Invalid request.', 'invalid_request_error', null],
      401: ['Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'],
      403: ['You are not allowed to sample from this model.', 'invalid_request_error', null],
      404: ['Not found.', 'invalid_request_error', null],
      429: ['Rate limit reached for requests.', 'requests', 'rate_limit_exceeded'],
    };
    const [message, type, code] = known[status] ?? ['The server had an error while processing your request.', 'server_error', null];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (b.retryAfter !== undefined) headers['retry-after'] = b.retryAfter;
    else headers['retry-after-ms'] = '1';
    res.writeHead(status, headers).end(JSON.stringify({ error: { message: b.errorMessage ?? message, type, param: null, code } }));
  }

  function waitFor(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onChange = () => {
        if (!check()) return;
        clearTimeout(timer);
        changes.off('change', onChange);
        resolve();
      };
      const timer = setTimeout(() => {
        changes.off('change', onChange);
        reject(new Error(`fake provider: timed out waiting for ${what}`));
      }, timeoutMs);
      changes.on('change', onChange);
      onChange();
    });
  }

  function endAll(): void {
    for (const ex of open) {
      ex.byServer = true;
      ex.res.destroy();
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get aborted() {
      return aborted;
    },
    get inFlight() {
      return open.size;
    },
    setDefault(b) {
      fallback = b;
    },
    enqueue(...b) {
      queue.push(...b);
    },
    waitForRequests(count = 1, timeoutMs = 2000) {
      return waitFor(() => requests.length >= count, `${count} request(s)`, timeoutMs);
    },
    waitForAborted(count = 1, timeoutMs = 2000) {
      return waitFor(() => aborted >= count, `${count} aborted response(s)`, timeoutMs);
    },
    reset() {
      endAll();
      requests.length = 0;
      queue.length = 0;
      fallback = {};
      aborted = 0;
    },
    async close() {
      endAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Reason = NonNullable<FakeBehaviour['finishReason']>;

interface Wire {
  start: string[];
  delta(text: string): string;
  error(message: string, event?: 'response.failed' | 'error'): string;
  malformed: string;
  end(reason: Reason): string[];
  /** end() without its final event (and, for chat, the usage chunk). */
  truncatedEnd(reason: Reason): string[];
}

interface WireCall {
  id: string;
  name: string;
  arguments: string;
  pieces: string[];
}

function toWireCall(c: FakeToolCall): WireCall {
  const whole = typeof c.arguments === 'string' ? c.arguments : c.arguments.join('');
  let pieces: string[];
  if (typeof c.arguments !== 'string') pieces = c.arguments;
  else {
    // Up to 3 pieces, cut anywhere (OpenAI cuts mid-token, not at JSON boundaries).
    const size = Math.max(1, Math.ceil(whole.length / 3));
    pieces = [];
    for (let i = 0; i < whole.length; i += size) pieces.push(whole.slice(i, i + size));
  }
  return { id: c.id ?? `call_${randomBytes(12).toString('base64url')}`, name: c.name, arguments: whole, pieces };
}

function responsesWire(
  body: any,
  text: string,
  usage: { input: number; output: number },
  refusal: string[] | undefined,
  calls: WireCall[],
): Wire {
  const id = `resp_fake${Date.now()}`;
  const itemId = `msg_fake${Date.now()}`;
  let seq = 0;
  const sse = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const response = (status: string, extra: object = {}) => ({
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    model: body.model,
    instructions: body.instructions ?? null,
    output: [],
    error: null,
    incomplete_details: null,
    usage: null,
    // As OpenAI echoes them back.
    tools: body.tools ?? [],
    tool_choice: body.tool_choice ?? 'auto',
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    ...extra,
  });
  const part = (t: string) => ({ type: 'output_text', text: t, annotations: [] });
  const refusalPart = (r: string) => ({ type: 'refusal', refusal: r });
  // A refusal-only answer has no output_text part at all; otherwise the refusal part comes second.
  // A turn that only calls functions has no message item at all.
  const hasText = text !== '' || (!refusal && calls.length === 0);
  const hasMessage = hasText || refusal !== undefined;
  const refusalText = refusal?.join('') ?? '';
  const content = (t: string) => [...(hasText ? [part(t)] : []), ...(refusal ? [refusalPart(refusalText)] : [])];
  const item = (status: string, t: string) => ({ id: itemId, type: 'message', status, role: 'assistant', content: content(t) });
  const loc = { item_id: itemId, output_index: 0, content_index: 0 };
  const refusalLoc = { ...loc, content_index: hasText ? 1 : 0 };
  const refusalEvents = refusal
    ? [
        sse('response.content_part.added', { ...refusalLoc, part: refusalPart('') }),
        ...refusal.map((delta) => sse('response.refusal.delta', { ...refusalLoc, delta })),
        sse('response.refusal.done', { ...refusalLoc, refusal: refusalText }),
        sse('response.content_part.done', { ...refusalLoc, part: refusalPart(refusalText) }),
      ]
    : [];
  // Function calls: output items after the message, each with its own item id (fc_…) and call id (call_…).
  const firstCallIndex = hasMessage ? 1 : 0;
  const callItems = calls.map((c, i) => ({ c, output_index: firstCallIndex + i, fcId: `fc_${randomBytes(12).toString('hex')}` }));
  const callItem = (x: (typeof callItems)[number], status: string, args: string) => ({
    id: x.fcId,
    type: 'function_call',
    status,
    arguments: args,
    call_id: x.c.id,
    name: x.c.name,
  });
  const callEvents = (status: string) =>
    callItems.flatMap((x) => {
      const at = { item_id: x.fcId, output_index: x.output_index };
      return [
        sse('response.output_item.added', { output_index: x.output_index, item: callItem(x, 'in_progress', '') }),
        ...x.c.pieces.map((delta) => sse('response.function_call_arguments.delta', { ...at, delta })),
        sse('response.function_call_arguments.done', { ...at, name: x.c.name, arguments: x.c.arguments }),
        sse('response.output_item.done', { output_index: x.output_index, item: callItem(x, status, x.c.arguments) }),
      ];
    });
  const output = (status: string) => [
    ...(hasMessage ? [item(status, text)] : []),
    ...callItems.map((x) => callItem(x, status, x.c.arguments)),
  ];
  const usageBody = {
    input_tokens: usage.input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.input + usage.output,
  };
  const beforeFinal = (status: string) => [
    ...(hasText
      ? [sse('response.output_text.done', { ...loc, text, logprobs: [] }), sse('response.content_part.done', { ...loc, part: part(text) })]
      : []),
    ...refusalEvents,
    ...(hasMessage ? [sse('response.output_item.done', { output_index: 0, item: item(status, text) })] : []),
    ...callEvents(status),
  ];
  const final = (reason: Reason) => {
    if (reason === 'stop' || reason === 'tool_calls') {
      return sse('response.completed', { response: response('completed', { output: output('completed'), usage: usageBody }) });
    }
    const incomplete = { reason: reason === 'length' ? 'max_output_tokens' : 'content_filter' };
    return sse('response.incomplete', {
      response: response('incomplete', { output: output('incomplete'), usage: usageBody, incomplete_details: incomplete }),
    });
  };
  const statusOf = (reason: Reason) => (reason === 'stop' || reason === 'tool_calls' ? 'completed' : 'incomplete');
  return {
    start: [
      sse('response.created', { response: response('in_progress') }),
      sse('response.in_progress', { response: response('in_progress') }),
      ...(hasMessage ? [sse('response.output_item.added', { output_index: 0, item: { ...item('in_progress', ''), content: [] } })] : []),
      ...(hasText ? [sse('response.content_part.added', { ...loc, part: part('') })] : []),
    ],
    delta: (delta) => sse('response.output_text.delta', { ...loc, delta, logprobs: [] }),
    error: (message, event = 'response.failed') =>
      event === 'error'
        ? sse('error', { code: 'server_error', message, param: null })
        : sse('response.failed', { response: response('failed', { error: { code: 'server_error', message } }) }),
    malformed: 'event: response.output_text.delta\ndata: {this is not json\n\n',
    end: (reason) => [...beforeFinal(statusOf(reason)), final(reason)],
    truncatedEnd: (reason) => beforeFinal(statusOf(reason)),
  };
}

function chatWire(
  body: any,
  usage: { input: number; output: number },
  sendUsage: boolean,
  refusal: string[] | undefined,
  calls: WireCall[],
  hasText: boolean,
): Wire {
  const base = { id: `chatcmpl-fake${Date.now()}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model, system_fingerprint: null };
  const data = (d: object) => `data: ${JSON.stringify(d)}\n\n`;
  const chunk = (delta: object, finish_reason: string | null = null) =>
    data({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason }] });
  const includeUsage = sendUsage && body.stream_options?.include_usage === true;
  const usageChunk = data({
    ...base,
    choices: [],
    usage: { prompt_tokens: usage.input, completion_tokens: usage.output, total_tokens: usage.input + usage.output },
  });
  // A turn that only calls functions: OpenAI's first chunk is the role with the first call's first piece.
  const callsOnly = !hasText && !refusal && calls.length > 0;
  const role = { role: 'assistant', content: null, refusal: null };
  const callChunks = calls.flatMap((c, index) => [
    chunk({
      ...(callsOnly && index === 0 ? role : {}),
      tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }],
    }),
    ...c.pieces.map((p) => chunk({ tool_calls: [{ index, function: { arguments: p } }] })),
  ]);
  const beforeFinal = [...(refusal ?? []).map((r) => chunk({ refusal: r })), ...callChunks];
  return {
    // OpenAI's first chunk: content '' and refusal null, or the other way round when the model refuses.
    start: callsOnly ? [] : [chunk(refusal ? { role: 'assistant', content: null, refusal: '' } : { role: 'assistant', content: '', refusal: null })],
    delta: (content) => chunk({ content }),
    error: (message) => data({ error: { message, type: 'server_error', param: null, code: null } }),
    malformed: 'data: {this is not json\n\n',
    end: (reason) => [...beforeFinal, chunk({}, reason), ...(includeUsage ? [usageChunk] : []), 'data: [DONE]\n\n'],
    truncatedEnd: () => [...beforeFinal, 'data: [DONE]\n\n'],
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
