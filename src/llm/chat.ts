import type OpenAI from 'openai';
import { abortError, toProviderError, untilAborted } from './errors.js';
import { IdleTimer } from './idle-timeout.js';
import { linkedController } from './linked-abort.js';
import { createOpenAiClient, withinDeadline, type OpenAiProviderOptions } from './client.js';
import { headersTimeoutError, startHeadersDeadline } from './headers-deadline.js';
import { ChatCallAssembler, toChatMessage, toChatTools } from './chat-wire.js';
import { guardedSink, pulled } from './pushed.js';
import { ProviderError } from './types.js';
import type { FinishReason, LlmEventSink, LlmProvider, LlmRequest, LlmUsage } from './types.js';

/** Chat Completions: OpenAI itself, and any OpenAI-compatible server (Ollama, vLLM, llama.cpp…). */
export function createChatProvider(opts: OpenAiProviderOptions): LlmProvider {
  const client = createOpenAiClient(opts);

  async function forEach(req: LlmRequest, sink: LlmEventSink): Promise<void> {
    // Internal controller, linked to the caller's signal: the idle timeout and the headers deadline tear the request down without touching the caller's signal.
    const { controller: internal, unlink } = linkedController(req.signal);
    const { push, refused } = guardedSink(sink, () => internal.abort());
    const signal = internal.signal;
    const deadline = startHeadersDeadline(opts.timeoutMs, () => internal.abort());
    let idle: IdleTimer | undefined;
    try {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
        ...(req.instructions !== null ? [{ role: 'system' as const, content: req.instructions }] : []),
        ...req.messages.map(toChatMessage),
      ];
      const chunks = await untilAborted(
        client.chat.completions.create(
          {
            model: req.model,
            messages,
            ...(req.temperature !== null && { temperature: req.temperature }),
            ...(req.maxOutputTokens != null && { max_completion_tokens: req.maxOutputTokens }),
            ...toChatTools(req),
            stream: true,
            stream_options: { include_usage: true },
          },
          withinDeadline(deadline, signal),
        ),
        // The combined signal: the deadline must also cut the SDK's sleep between retries short.
        signal,
      );
      deadline.clear();
      let finishReason: FinishReason | null = null;
      let usage: LlmUsage | null = null;
      const calls = new ChatCallAssembler();
      let emitted = 0;
      // A call's arguments are whole once its choice has finished normally; a `length` cut may have split them.
      const takeCalls = async (): Promise<void> => {
        if (calls.size === 0 || (finishReason !== 'stop' && finishReason !== 'tool_calls')) return;
        for (const call of calls.take()) {
          emitted++;
          await push({ type: 'tool_call', call });
        }
        // Some compatible servers (Ollama among them) finish a turn of calls with 'stop'.
        finishReason = 'tool_calls';
      };
      // Read to the end: the usage chunk (choices: []) comes after the finish_reason chunk.
      // The SDK's stream read directly: the idle timer aborts the request when it stalls.
      idle = new IdleTimer(opts.idleTimeoutMs, () => internal.abort());
      for await (const chunk of chunks) {
        // Already-buffered chunks may still arrive after a cancel or a timeout: none of them is wanted.
        if (signal.aborted) throw req.signal.aborted ? abortError() : idle.error();
        idle.touch();
        const choice = chunk.choices[0];
        if (choice?.delta?.content) {
          const wait = push({ type: 'delta', text: choice.delta.content });
          if (wait) await wait;
        }
        if (choice?.delta?.refusal) {
          const wait = push({ type: 'refusal', text: choice.delta.refusal });
          if (wait) await wait;
        }
        if (choice?.delta?.tool_calls) calls.add(choice.delta.tool_calls);
        if (choice?.finish_reason) {
          finishReason = toFinishReason(choice.finish_reason);
          await takeCalls();
        }
        if (chunk.usage) usage = toUsage(chunk.usage);
      }
      // The SDK ends its stream quietly when the request is aborted.
      if (req.signal.aborted) throw abortError();
      if (idle.expired) throw idle.error();
      if (finishReason === null) {
        throw new ProviderError('PROVIDER_ERROR', 'stream ended before the response completed');
      }
      // Pieces after the finish_reason chunk (not OpenAI's order, but harmless to accept).
      await takeCalls();
      // 'tool_calls' with no call would leave the run waiting for outputs of nothing.
      if (finishReason === 'tool_calls' && emitted === 0) finishReason = 'stop';
      await push({ type: 'done', finishReason, usage });
    } catch (err) {
      if (refused.yes) throw refused.error;
      if (req.signal.aborted) throw abortError();
      if (deadline.expired) throw headersTimeoutError(opts.timeoutMs);
      if (idle?.expired) throw idle.error();
      throw toProviderError(err, opts.apiKey);
    } finally {
      deadline.clear();
      idle?.clear();
      // Releases the HTTP response if the provider kept it open; a plain reason spares building a DOMException per run.
      internal.abort('stream done');
      unlink();
    }
  }

  return { forEach, stream: (req) => pulled((sink) => forEach(req, sink)) };
}

function toFinishReason(reason: string): FinishReason {
  if (reason === 'length' || reason === 'content_filter') return reason;
  // 'function_call' is the legacy name, from servers that still speak the old functions API.
  if (reason === 'tool_calls' || reason === 'function_call') return 'tool_calls';
  return 'stop';
}

function toUsage(u: OpenAI.CompletionUsage): LlmUsage {
  return { inputTokens: u.prompt_tokens, outputTokens: u.completion_tokens, totalTokens: u.total_tokens };
}
