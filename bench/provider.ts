import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { text } from 'node:stream/consumers';

/**
 * The bench's OpenAI-compatible provider: the Responses-API streaming part of
 * test/fake-provider.ts, trimmed to what the bench needs and made cheap enough to feed 500
 * streams from the same process that runs the clients. Three differences from the test fake,
 * all on purpose:
 *  - `onChunk(key, index, time)` fires just before a delta is written, so latency is measured
 *    from the moment the provider writes, on the same clock as the clients (this process);
 *  - writes do not wait for the socket's write callback (the test fake does, to be
 *    deterministic), so the provider's own pacing is not slowed by its clients;
 *  - a paced reply's first delta comes one interval after the response starts, as a real
 *    model's first token comes after its headers (the test fake writes it at once).
 * `key` is the content of the request's last input message: every run in the bench sends a
 * unique one, which ties a provider stream to the client that receives it.
 */

export interface StreamShape {
  /** Delta chunks per reply. */
  chunks: number;
  /** Milliseconds between two delta chunks; 0 writes the whole reply at once. */
  paceMs: number;
}

export type ChunkHook = (key: string, index: number, time: number) => void;

export interface BenchProvider {
  /** Base URL including /v1 (OPENAI_BASE_URL). */
  url: string;
  shape: StreamShape;
  onChunk: ChunkHook | null;
  /** Streams started so far. */
  started: number;
  close(): Promise<void>;
}

export async function startBenchProvider(shape: StreamShape = { chunks: 5, paceMs: 0 }): Promise<BenchProvider> {
  const open = new Set<ServerResponse>();
  const provider: BenchProvider = {
    url: '',
    shape,
    onChunk: null,
    started: 0,
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer((req, res) => {
    text(req).then(
      (raw) => {
        if (req.method !== 'POST' || !req.url?.startsWith('/v1/responses')) return void res.writeHead(404).end();
        const body = JSON.parse(raw) as { model: string; input: { content: string }[] };
        open.add(res);
        res.on('close', () => open.delete(res));
        provider.started++;
        stream(res, body, provider.shape);
      },
      () => res.destroy(),
    );
  });
  // Keep-alive longer than any pause between bench phases, like a real provider behind a CDN.
  server.keepAliveTimeout = 60_000;

  function stream(res: ServerResponse, body: { model: string; input: { content: string }[] }, { chunks, paceMs }: StreamShape): void {
    const key = body.input.at(-1)?.content ?? '';
    const words = Array.from({ length: chunks }, (_, i) => `w${i} `);
    const wire = responsesWire(body.model, words.join(''), chunks);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(wire.start);
    let i = 0;
    const write = (): void => {
      provider.onChunk?.(key, i, performance.now());
      res.write(wire.delta(words[i]!));
      i++;
    };
    if (paceMs === 0) {
      while (i < chunks) write();
      res.end(wire.end());
      return;
    }
    const next = (): void => {
      if (res.destroyed) return;
      write();
      if (i === chunks) res.end(wire.end());
      else setTimeout(next, paceMs);
    };
    // A model takes time before its first token too: a paced reply starts after one interval,
    // as a real provider's would (its headers and first events come at once, the text later).
    setTimeout(next, paceMs);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  provider.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return provider;
}

/** The event sequence OpenAI's Responses API streams for a one-message text reply. */
function responsesWire(model: string, text: string, outputTokens: number) {
  const id = `resp_bench${Date.now()}`;
  const itemId = `msg_bench${Date.now()}`;
  let seq = 0;
  const sse = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const response = (status: string, extra: object = {}) => ({
    id, object: 'response', created_at: Math.floor(Date.now() / 1000), status, model,
    output: [], error: null, incomplete_details: null, usage: null, ...extra,
  });
  const part = (t: string) => ({ type: 'output_text', text: t, annotations: [] });
  const item = (status: string, t: string) => ({ id: itemId, type: 'message', status, role: 'assistant', content: [part(t)] });
  const loc = { item_id: itemId, output_index: 0, content_index: 0 };
  const usage = {
    input_tokens: 10, input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 10 + outputTokens,
  };
  return {
    start:
      sse('response.created', { response: response('in_progress') }) +
      sse('response.in_progress', { response: response('in_progress') }) +
      sse('response.output_item.added', { output_index: 0, item: { ...item('in_progress', ''), content: [] } }) +
      sse('response.content_part.added', { ...loc, part: part('') }),
    delta: (delta: string) => sse('response.output_text.delta', { ...loc, delta, logprobs: [] }),
    // A function, so sequence numbers keep increasing after the deltas.
    end: () =>
      sse('response.output_text.done', { ...loc, text, logprobs: [] }) +
      sse('response.content_part.done', { ...loc, part: part(text) }) +
      sse('response.output_item.done', { output_index: 0, item: item('completed', text) }) +
      sse('response.completed', { response: response('completed', { output: [item('completed', text)], usage }) }),
  };
}
