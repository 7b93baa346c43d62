import { Readable } from 'node:stream';
import type { ExecutionResult } from 'graphql';
import { getSSEProcessor, isAsyncIterable, type Plugin } from 'graphql-yoga';
import { takeFastStream, type FastEventStream } from './fast-events.js';

/**
 * A lean body for subscriptions over Server-Sent Events, byte for byte what yoga's own SSE
 * processor writes (graphql-yoga/esm/plugins/result-processor/sse.js): a `:` comment first and
 * every 12 s, `event: next` + `data: <result>` per result, `event: complete` at the end.
 *
 * yoga's processor puts each result through a WHATWG ReadableStream ponyfill (a pull promise,
 * two encoded chunks and a concatenation per frame) before Node's stream pipes it to the
 * response; with hundreds of streams that is a good share of the allocations per frame. Here
 * each frame is one string pushed into the Node stream the response pipes.
 *
 * A result with errors (or HTTP extensions) is rendered by yoga's processor itself: yoga
 * rewrites such results' error extensions (omits `http`, `unexpected`) as it serialises them.
 */
const PING = ':\n\n';
const COMPLETE = 'event: complete\ndata:\n\n';
/** yoga's interval; its tests' too (NODE_ENV=test pings every 300 ms). */
const pingIntervalMs = () => (process.env.NODE_ENV === 'test' ? 300 : 12_000);

const headers = {
  'Content-Type': 'text/event-stream',
  Connection: 'keep-alive',
  'Cache-Control': 'no-cache',
  'Content-Encoding': 'none',
};

type FetchAPI = { Response: typeof Response };

export function useLeanEventStreams(): Plugin {
  return {
    onResultProcess({ request, result, resultProcessor, setResultProcessor }) {
      // Only where yoga chose its SSE processor (by its name; another yoga keeps its own), and only for streams.
      if (resultProcessor?.name !== 'processSSEResult' || !isAsyncIterable(result)) return;
      const fast = takeFastStream(request);
      setResultProcessor(
        (stream, fetchAPI) => new fetchAPI.Response(new EventStreamBody(stream as AsyncIterable<ExecutionResult>, fetchAPI, fast) as never, { status: 200, headers }),
        'text/event-stream',
      );
    },
  };
}

/**
 * The stream's results as SSE frames; ends the stream (return()) when the response goes away first.
 *
 * With the subscription's fast stream (fast-events.ts), its projected results are written as
 * it reads them (FastEventStream.direct), not through `stream`, the chain of iterators yoga
 * and its plugins wrap around it; that chain still brings everything else (one next() at a
 * time, as before), and its end.
 */
export class EventStreamBody extends Readable {
  private readonly results: AsyncIterator<ExecutionResult>;
  private readonly ping: NodeJS.Timeout;
  private reading = false;

  constructor(
    stream: AsyncIterable<ExecutionResult>,
    private readonly fetchAPI: FetchAPI,
    private readonly fast?: FastEventStream,
  ) {
    super();
    this.results = stream[Symbol.asyncIterator]();
    this.push(PING);
    this.ping = setInterval(() => this.push(PING), pingIntervalMs());
    // A projected result has no errors nor extensions: its plain frame is yoga's.
    fast?.direct((result) => this.push(plainFrame(result)!));
  }

  override _read(): void {
    // Room again for the fast stream's frames (a no-op unless it waits for it).
    this.fast?.resume();
    if (this.reading) return;
    this.reading = true;
    this.results.next().then(
      (step) => {
        if (step.value == null) return this.pushed(step.done);
        const frame = plainFrame(step.value);
        if (frame !== undefined) this.pushed(step.done, frame);
        else void yogaFrame(step.value, this.fetchAPI).then((text) => this.pushed(step.done, text), (error: unknown) => this.destroy(error as Error));
      },
      (error: unknown) => this.destroy(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearInterval(this.ping);
    const returned = this.results.return?.();
    if (!returned) return callback(error);
    returned.then(
      () => callback(error),
      (failure: unknown) => callback(failure as Error),
    );
  }

  private pushed(done: boolean | undefined, frame?: string): void {
    this.reading = false;
    if (frame !== undefined) this.push(frame);
    if (done) {
      clearInterval(this.ping);
      this.push(COMPLETE);
      this.push(null);
    }
  }
}

/** A result yoga would serialise as it is: its frame; undefined when yoga rewrites it. */
function plainFrame(result: ExecutionResult & { stringify?: (r: unknown) => string }): string | undefined {
  if (result.errors?.length || (result.extensions as { http?: unknown } | undefined)?.http) return undefined;
  return `event: next\ndata: ${(result.stringify ?? JSON.stringify)(result)}\n\n`;
}

const yogaSse = getSSEProcessor();

/** yoga's own frame of one result: the single-result body its processor writes, between its ping and its end. */
async function yogaFrame(result: ExecutionResult, fetchAPI: FetchAPI): Promise<string> {
  const body = await (await yogaSse(result, fetchAPI as never, 'text/event-stream')).text();
  return body.slice(PING.length, body.length - COMPLETE.length);
}
