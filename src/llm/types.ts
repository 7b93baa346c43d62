/**
 * The one interface the run engine sees. Three adapters implement it: the Responses API,
 * Chat Completions, and the offline model. The engine never imports the openai SDK.
 */

/** A function the model may call (OpenAI's function tool). */
export interface LlmToolDefinition {
  name: string;
  description: string | null;
  /** A JSON Schema object; null: no parameters. */
  parameters: Record<string, unknown> | null;
  strict: boolean | null;
}

/** AUTO (the model decides), NONE (no calls), REQUIRED (at least one), FUNCTION (that one). */
export type LlmToolChoice = { mode: 'AUTO' | 'NONE' | 'REQUIRED' } | { mode: 'FUNCTION'; functionName: string };

/** A call the model made. `id` is the provider's own call id, sent back with the output. */
export interface LlmToolCall {
  id: string;
  name: string;
  /** JSON text, as the model wrote it. */
  arguments: string;
}

export type LlmMessage =
  | { role: 'user' | 'system'; content: string }
  /** An assistant turn: its text, and the calls it made (if any), in order. */
  | { role: 'assistant'; content: string; toolCalls?: LlmToolCall[] }
  /** The output of one call, for the provider's next request. */
  | { role: 'tool'; toolCallId: string; content: string };

export interface LlmRequest {
  model: string;
  /** System-level instructions (input > assistant); null when there are none. */
  instructions: string | null;
  /** The thread's completed messages, oldest first. */
  messages: LlmMessage[];
  temperature: number | null;
  /** Functions the model may call; empty: none (no `tools` sent). */
  tools: LlmToolDefinition[];
  /** Sent only when tools are; null: the provider's default. */
  toolChoice: LlmToolChoice | null;
  parallelToolCalls: boolean | null;
  /** The most tokens the reply may take (the Assistants API's max_completion_tokens); null/absent: the provider's default. */
  maxOutputTokens?: number | null;
  /** Aborting it ends the provider request (cancelRun, shutdown). */
  signal: AbortSignal;
}

export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/**
 * Why the provider stopped: `stop` is a normal end; `tool_calls` means the model called tools
 * (the run waits for their outputs); the others end the run INCOMPLETE.
 */
export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter';

export type LlmStreamEvent =
  | { type: 'delta'; text: string }
  /** One complete call (its arguments whole), emitted once the provider has finished it. */
  | { type: 'tool_call'; call: LlmToolCall }
  /** A piece of the model's refusal to answer (pieces concatenate); not reply text. */
  | { type: 'refusal'; text: string }
  | { type: 'done'; finishReason: FinishReason; usage: LlmUsage | null };

/**
 * Takes one event of a provider's stream (pushed). A promise holds the stream there: the
 * provider reads nothing more until it settles. A throw (or a rejection) ends the stream: the
 * request is torn down and the error comes out of the provider's forEach() as it is.
 */
export type LlmEventSink = (event: LlmStreamEvent) => Promise<void> | undefined | void;

export interface LlmProvider {
  /** Yields deltas and refusal pieces, then exactly one `done`. Anything else ends in a thrown ProviderError. */
  stream(request: LlmRequest): AsyncIterable<LlmStreamEvent>;
  /**
   * The same events, pushed to `sink` as they are read (optional; the run engine prefers it):
   * no iterator between the provider's stream and its consumer, whose promises and microtask
   * turns per token are most of what a layer costs. Resolves after `done`; rejects with a
   * ProviderError, an abort, or what `sink` threw.
   */
  forEach?(request: LlmRequest, sink: LlmEventSink): Promise<void>;
}

export type ProviderErrorCode =
  | 'PROVIDER_ERROR'
  | 'PROVIDER_AUTH'
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_TIMEOUT';

/** A provider failure, already classified into the contract's `Run.error.code`. */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}
