import type { LogStream } from '../services/events/log-stream.js';
import type { ThreadEvent } from '../services/events/types.js';
import { messageStep, toolStep } from '../services/runs/steps.js';
import type { AssistantRow, MessageRow, RunRow } from '../store/types.js';
import { errorBody, StreamEndedError, type WireError } from './errors.js';
import { contentOut, messageOut, runOut, stepOut } from './objects.js';

/**
 * A run's events (the same log stream GraphQL subscribers read) as the Assistants API's
 * server-sent events, in the order the SDK's AssistantStream needs: a message is announced
 * (`thread.message.created`, empty) before its deltas, every delta is part 0 of it, a step is
 * created before its deltas, and the stream's last run event is terminal (or
 * `thread.run.requires_action`), followed by `done`.
 */

export interface Frame {
  event: string;
  data: unknown;
}

export interface StreamContext {
  assistantOf(run: RunRow): Promise<AssistantRow | undefined>;
  /** Messages this stream's client knows already (a reply resumed after tool outputs), by id. */
  known?: MessageRow[];
}

const KEEP_ALIVE_MS = 15_000;
const encoder = new TextEncoder();

export function frameText(frame: Frame): string {
  return `event: ${frame.event}\ndata: ${typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data)}\n\n`;
}

/** Translates one run's ThreadEvents; `first` frames (thread.created) come before them. */
export async function* assistantEvents(events: LogStream, ctx: StreamContext, first: Frame[] = []): AsyncGenerator<Frame> {
  yield* first;
  const announced = new Set<string>();
  const known = new Map((ctx.known ?? []).map((m) => [m.id, m]));
  let reply: MessageRow | null = null;
  let lastRun: RunRow | null = null;
  let ended = false;
  const run = async (row: RunRow) => runOut(row, await ctx.assistantOf(row));
  const message = (row: MessageRow) => messageOut(row, lastRun ?? undefined);

  function* announce(row: MessageRow, content: MessageRow['content']): Generator<Frame> {
    announced.add(row.id);
    reply = row;
    if (lastRun) {
      const step = messageStep(lastRun, { ...row, status: 'IN_PROGRESS' });
      yield { event: 'thread.run.step.created', data: stepOut(step) };
      yield { event: 'thread.run.step.in_progress', data: stepOut(step) };
    }
    const created = { ...message({ ...row, status: 'IN_PROGRESS' }), content: contentOut({ content, refusal: null }) };
    yield { event: 'thread.message.created', data: created };
    yield { event: 'thread.message.in_progress', data: created };
  }

  for await (const event of events as AsyncIterable<ThreadEvent>) {
    switch (event.kind) {
      case 'MESSAGE': {
        const row = event.message;
        if (!announced.has(row.id)) yield* announce(row, row.status === 'IN_PROGRESS' ? '' : row.content);
        if (row.status !== 'IN_PROGRESS') {
          reply = row;
          yield { event: row.status === 'COMPLETED' ? 'thread.message.completed' : 'thread.message.incomplete', data: message(row) };
        }
        break;
      }
      case 'MESSAGE_DELTA': {
        if (!announced.has(event.messageId)) {
          const before = known.get(event.messageId);
          if (before) yield* announce(before, before.content);
        }
        yield {
          event: 'thread.message.delta',
          data: { id: event.messageId, object: 'thread.message.delta', delta: { content: [{ index: 0, type: 'text', text: { value: event.delta } }] } },
        };
        break;
      }
      case 'RUN_STATUS': {
        const row = event.run;
        lastRun = row;
        if (row.status === 'QUEUED') {
          yield { event: 'thread.run.created', data: await run(row) };
          yield { event: 'thread.run.queued', data: await run(row) };
        } else if (row.status === 'IN_PROGRESS') {
          yield { event: 'thread.run.in_progress', data: await run(row) };
          // Resumed with tool outputs: the round's step is done.
          const round = row.toolRounds.length - 1;
          if (round >= 0 && row.toolRounds[round]!.submittedAt !== null) yield { event: 'thread.run.step.completed', data: stepOut(toolStep(row, round)) };
        } else if (row.status === 'REQUIRES_ACTION') {
          ended = true;
          yield* toolCallFrames(row);
          yield { event: 'thread.run.requires_action', data: await run(row) };
        } else {
          ended = true;
          if (reply && announced.has(reply.id)) {
            const step = stepOut(messageStep(row, reply));
            yield { event: `thread.run.step.${step.status}`, data: step };
          }
          yield { event: `thread.run.${row.status.toLowerCase()}`, data: await run(row) };
        }
        break;
      }
    }
  }
  // The events stopped before the run ended (the server is shutting down, the thread was
  // deleted): say so, rather than a stream the SDK would reject without a reason.
  if (!ended) throw new StreamEndedError();
}

/** The waiting round's step: created empty, then one delta per call (dense indexes from 0). */
function* toolCallFrames(run: RunRow): Generator<Frame> {
  const step = toolStep(run, run.toolRounds.length - 1);
  if (step.type !== 'tool_calls') return;
  yield { event: 'thread.run.step.created', data: stepOut(step, 'empty') };
  yield { event: 'thread.run.step.in_progress', data: stepOut(step, 'empty') };
  for (const [index, call] of step.calls.entries()) {
    yield {
      event: 'thread.run.step.delta',
      data: {
        id: step.id,
        object: 'thread.run.step.delta',
        delta: { step_details: { type: 'tool_calls', tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] } },
      },
    };
  }
}

/**
 * An SSE response from frames, read as the client reads (backpressure), with keep-alive
 * comments during silences, `done` at the end and `event: error` if the events fail. A client
 * that goes away only stops its stream: the run goes on.
 */
export function sseResponse(frames: AsyncGenerator<Frame>, onClose: () => void, toWire: (error: unknown) => WireError, signal?: AbortSignal): Response {
  let pending: Promise<IteratorResult<Frame>> | null = null;
  let finished = false;
  // The client went away (the socket closed): the stream lets go of its subscription.
  signal?.addEventListener('abort', () => {
    finished = true;
    onClose();
  }, { once: true });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (finished) return;
      pending ??= frames.next();
      let timer: NodeJS.Timeout | undefined;
      const silence = new Promise<'silence'>((resolve) => (timer = setTimeout(() => resolve('silence'), KEEP_ALIVE_MS)));
      try {
        const next = await Promise.race([pending, silence]);
        if (next === 'silence') {
          controller.enqueue(encoder.encode(': keep-alive\n\n'));
          return;
        }
        pending = null;
        if (next.done) {
          finished = true;
          controller.enqueue(encoder.encode(frameText({ event: 'done', data: '[DONE]' })));
          controller.close();
          onClose();
          return;
        }
        controller.enqueue(encoder.encode(frameText(next.value)));
      } catch (error) {
        finished = true;
        controller.enqueue(encoder.encode(frameText({ event: 'error', data: errorBody(toWire(error)) })));
        controller.close();
        onClose();
      } finally {
        clearTimeout(timer);
      }
    },
    cancel() {
      finished = true;
      onClose();
      void frames.return(undefined);
    },
  });
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' },
  });
}
