/**
 * The one interface the run engine sees. Three adapters implement it: the Responses API,
 * Chat Completions, and the offline model. The engine never imports the openai SDK.
 */

export interface LlmMessage {
  role: 'user' | 'assistant' | 'system';
  content: string;
}

export interface LlmRequest {
  model: string;
  /** System-level instructions (input > assistant); null when there are none. */
  instructions: string | null;
  /** The thread's completed messages, oldest first. */
  messages: LlmMessage[];
  temperature: number | null;
  /** Aborting it ends the provider request (cancelRun, shutdown). */
  signal: AbortSignal;
}

export interface LlmUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** Why the provider stopped: `stop` is a normal end; the others end the run INCOMPLETE. */
export type FinishReason = 'stop' | 'length' | 'content_filter';

export type LlmStreamEvent =
  | { type: 'delta'; text: string }
  /** A piece of the model's refusal to answer (pieces concatenate); not reply text. */
  | { type: 'refusal'; text: string }
  | { type: 'done'; finishReason: FinishReason; usage: LlmUsage | null };

export interface LlmProvider {
  /** Yields deltas and refusal pieces, then exactly one `done`. Anything else ends in a thrown ProviderError. */
  stream(request: LlmRequest): AsyncIterable<LlmStreamEvent>;
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
