import WebSocket from 'ws';

/**
 * Raw clients for the input sweep (not a test file itself): they send exactly what they are
 * given, bytes and frames a well-behaved client never would, and return everything that came
 * back as text, so the sweep can look for an internal error anywhere in it.
 */

export interface Answer {
  /** HTTP status; undefined for WebSocket. */
  status?: number;
  /** The close code when the server closed the socket. */
  closeCode?: number;
  closeReason?: string;
  /** The whole body (every SSE event, every multipart part) or every WebSocket message, joined. */
  text: string;
  /** The answer was still going after `waitMs` (a live subscription) and was cut off. */
  cutOff: boolean;
}

/**
 * A request whose answer is read to its end, or for at most `waitMs` (a subscription that
 * stays open is cut off, not failed).
 */
export async function httpExchange(url: string, init: RequestInit, waitMs: number): Promise<Answer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), waitMs);
  let text = '';
  try {
    const res = await fetch(url, { ...init, signal: controller.signal });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
      return { status: res.status, text, cutOff: false };
    } catch (error) {
      if (controller.signal.aborted) return { status: res.status, text, cutOff: true };
      throw error;
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a graphql-transport-ws socket, sends `frames`, and collects messages until the server
 * closes the socket or has been quiet for `quietMs`; then closes it (1000) if still open. After
 * a connection_init it waits for the answer (or `quietMs`) before the next frame: the server
 * authenticates asynchronously, and a subscribe sent before the ack is refused (4401).
 */
export function wsExchange(url: string, frames: (string | Buffer)[], quietMs: number, protocol = 'graphql-transport-ws'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), protocol);
    const messages: string[] = [];
    let quiet: NodeJS.Timeout | undefined;
    let closingOurselves = false;
    const finish = () => {
      closingOurselves = true;
      socket.close(1000);
    };
    const restartQuiet = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish, quietMs);
    };
    let answered = () => {};
    const sendAll = async () => {
      for (const frame of frames) {
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(frame);
        if (typeof frame === 'string' && frame.includes('"connection_init"')) {
          await new Promise<void>((resolve) => {
            answered = resolve;
            setTimeout(resolve, quietMs);
          });
        }
      }
      restartQuiet();
    };
    socket.on('open', () => void sendAll());
    socket.on('message', (data) => {
      messages.push(String(data));
      answered();
      restartQuiet();
    });
    socket.on('error', (error) => {
      clearTimeout(quiet);
      reject(error);
    });
    socket.on('close', (code, reason) => {
      clearTimeout(quiet);
      answered();
      const byServer = !closingOurselves;
      resolve({
        closeCode: byServer ? code : undefined,
        closeReason: byServer ? String(reason) : undefined,
        text: messages.join('\n'),
        cutOff: !byServer,
      });
    });
  });
}

export const wsInit = (payload?: unknown) => JSON.stringify(payload === undefined ? { type: 'connection_init' } : { type: 'connection_init', payload });

export const wsSubscribe = (id: string, payload: unknown) => JSON.stringify({ type: 'subscribe', id, payload });
