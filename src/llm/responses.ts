import type OpenAI from 'openai';
import { createOpenAiClient, withinDeadline, type OpenAiProviderOptions } from './client.js';
import { headersTimeoutError, startHeadersDeadline } from './headers-deadline.js';
import { abortError, toProviderError, untilAborted } from './errors.js';
import { IdleTimer } from './idle-timeout.js';
import { linkedController } from './linked-abort.js';
import { ResponsesCallTracker, toResponsesInput, toResponsesTools } from './responses-wire.js';
import { guardedSink, pulled } from './pushed.js';
import { ProviderError } from './types.js';
import type { LlmEventSink, LlmProvider, LlmRequest, LlmUsage } from './types.js';

/** The OpenAI Responses API (`POST /responses`), streamed, nothing stored at OpenAI. */
export function createResponsesProvider(opts: OpenAiProviderOptions): LlmProvider {
  const client = createOpenAiClient(opts);

  async function forEach(req: LlmRequest, sink: LlmEventSink): Promise<void> {
    // Internal controller, linked to the caller's signal: the idle timeout and the headers deadline tear the request down without touching the caller's signal.
    const { controller: internal, unlink } = linkedController(req.signal);
    const { push, refused } = guardedSink(sink, () => internal.abort());
    const signal = internal.signal;
    const deadline = startHeadersDeadline(opts.timeoutMs, () => internal.abort());
    let idle: IdleTimer | undefined;
    try {
      const events = await untilAborted(
        client.responses.create(
          {
            model: req.model,
            ...(req.instructions !== null && { instructions: req.instructions }),
            input: toResponsesInput(req.messages),
            ...(req.temperature !== null && { temperature: req.temperature }),
            ...(req.maxOutputTokens != null && { max_output_tokens: req.maxOutputTokens }),
            ...toResponsesTools(req),
            stream: true,
            store: false,
          },
          withinDeadline(deadline, signal),
        ),
        // The combined signal: the deadline must also cut the SDK's sleep between retries short.
        signal,
      );
      deadline.clear();
      const calls = new ResponsesCallTracker();
      // The SDK's stream read directly: the idle timer aborts the request when it stalls.
      idle = new IdleTimer(opts.idleTimeoutMs, () => internal.abort());
      for await (const event of events) {
        // Already-buffered events may still arrive after a cancel or a timeout: none of them is wanted.
        if (signal.aborted) throw req.signal.aborted ? abortError() : idle.error();
        idle.touch();
        switch (event.type) {
          case 'response.output_text.delta':
            if (event.delta) {
              const wait = push({ type: 'delta', text: event.delta });
              if (wait) await wait;
            }
            break;
          // A refusal is a content part of its own; its `.done` event repeats the deltas, so it is not needed.
          case 'response.refusal.delta':
            if (event.delta) {
              const wait = push({ type: 'refusal', text: event.delta });
              if (wait) await wait;
            }
            break;
          case 'response.output_item.added':
            calls.start(event.output_index, event.item);
            break;
          case 'response.function_call_arguments.delta':
            calls.append(event.item_id, event.output_index, event.delta);
            break;
          case 'response.function_call_arguments.done': {
            // `name` is in OpenAI's event; a compatible server may leave it out (the added item had it).
            const call = calls.argumentsDone(event.item_id, event.output_index, event.arguments, event.name);
            if (call) await push({ type: 'tool_call', call });
            break;
          }
          case 'response.output_item.done': {
            const call = calls.itemDone(event.output_index, event.item);
            if (call) await push({ type: 'tool_call', call });
            break;
          }
          case 'response.completed': {
            for (const call of calls.missedIn(event.response.output ?? [])) await push({ type: 'tool_call', call });
            // Responses has no finish reason of its own: a completed response with calls waits for their outputs.
            const finishReason = calls.anyEmitted ? 'tool_calls' : 'stop';
            await push({ type: 'done', finishReason, usage: toUsage(event.response.usage) });
            return;
          }
          case 'response.incomplete': {
            const reason = event.response.incomplete_details?.reason;
            const finishReason = reason === 'content_filter' ? 'content_filter' : 'length';
            await push({ type: 'done', finishReason, usage: toUsage(event.response.usage) });
            return;
          }
          case 'response.failed':
            throw new ProviderError(
              'PROVIDER_ERROR',
              event.response.error?.message ?? 'the provider reported that the response failed',
            );
          case 'error':
            throw new ProviderError('PROVIDER_ERROR', event.message || 'the provider reported an error');
        }
      }
      // The SDK ends its stream quietly when the request is aborted.
      if (req.signal.aborted) throw abortError();
      if (idle.expired) throw idle.error();
      throw new ProviderError('PROVIDER_ERROR', 'stream ended before the response completed');
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

function toUsage(u: OpenAI.Responses.ResponseUsage | null | undefined): LlmUsage | null {
  if (!u) return null;
  return { inputTokens: u.input_tokens, outputTokens: u.output_tokens, totalTokens: u.total_tokens };
}
