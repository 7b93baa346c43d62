import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import {
  CreateThreadDocument,
  SendMessageDocument,
  ThreadDocument,
  ThreadEventsDocument,
  type RunStatus,
  type ThreadEventsSubscription,
  type TypedDocumentString,
} from './gql/graphql.js';

/**
 * A small typed threadql client: operations in operations/*.graphql, their types generated
 * from schema.graphql (gql/), queries and mutations over fetch, subscriptions over graphql-ws.
 * In a browser, drop the `ws` import and `webSocketImpl`.
 */

export interface Message {
  id: string;
  role: string;
  content: string;
  status: string;
}

export class ThreadqlError extends Error {
  constructor(readonly errors: { message: string; extensions?: { code?: string } }[]) {
    super(errors.map((e) => `${e.message}${e.extensions?.code ? ` (${e.extensions.code})` : ''}`).join('; '));
  }
}

export class ThreadqlClient {
  readonly ws: Client;
  private readonly headers: Record<string, string>;

  /** `url`: the server's /graphql endpoint; `apiKey`: a tql_… key when the server needs one. */
  constructor(private readonly url: string, apiKey?: string) {
    this.headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
    this.ws = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: this.headers });
  }

  /** One query or mutation, typed by its document. */
  async request<R, V>(document: TypedDocumentString<R, V>, variables: V): Promise<R> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...this.headers },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
    const body = (await res.json()) as { data?: R; errors?: ThreadqlError['errors'] };
    if (body.errors?.length || !body.data) throw new ThreadqlError(body.errors ?? [{ message: `HTTP ${res.status}` }]);
    return body.data;
  }

  async createThread(title?: string): Promise<string> {
    return (await this.request(CreateThreadDocument, { input: { title } })).createThread!.thread.id;
  }

  /**
   * Sends a message with a fresh idempotency key, retrying network failures with the same
   * key: however often the request reaches the server, it stores one message and starts one
   * run. Pass `idempotencyKey` to retry a send from an earlier attempt (after a crash, say).
   */
  async send(threadId: string, content: string, idempotencyKey: string = randomUUID()): Promise<{ runId: string; status: RunStatus }> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { sendMessage } = await this.request(SendMessageDocument, { threadId, content, idempotencyKey });
        return { runId: sendMessage!.run.id, status: sendMessage!.run.status };
      } catch (error) {
        if (!(error instanceof TypeError) || attempt === 3) throw error; // fetch's network failure
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }

  /**
   * Opens a thread the way a page that was just (re)loaded does: read its messages and
   * `lastEventSeq`, then apply every event after that seq. Nothing is missed or doubled,
   * whenever this is called — before, during or after a run.
   */
  async openThread(threadId: string, onChange: (view: ThreadView) => void): Promise<ThreadView> {
    const { thread } = await this.request(ThreadDocument, { id: threadId });
    if (!thread) throw new ThreadqlError([{ message: `No thread ${threadId}`, extensions: { code: 'NOT_FOUND' } }]);
    const view = new ThreadView(thread.messages.edges.map((e) => e.node), thread.lastEventSeq, thread.runs.edges[0]?.node.status ?? null);
    view.close = this.ws.subscribe<ThreadEventsSubscription>(
      { query: ThreadEventsDocument.toString(), variables: { threadId, after: thread.lastEventSeq } },
      {
        next: ({ data, errors }) => {
          if (errors?.length) return view.fail(new ThreadqlError(errors as ThreadqlError['errors']));
          if (data && view.apply(data.threadEvents)) onChange(view);
        },
        error: (error) => view.fail(error instanceof Error ? error : new Error('the subscription closed')),
        complete: () => {},
      },
    );
    return view;
  }

  dispose(): Promise<void> {
    return this.ws.dispose() as Promise<void>;
  }
}

/** A thread's messages kept exact by its events. */
export class ThreadView {
  close: () => void = () => {};
  error: Error | null = null;

  constructor(
    readonly messages: Message[],
    public lastSeq: number,
    /** The latest run's status (null: no run seen yet). */
    public runStatus: RunStatus | null,
  ) {}

  /** Applies one event; false when it was already applied (a resubscription after a reconnect). */
  apply(event: ThreadEventsSubscription['threadEvents']): boolean {
    if (event.seq <= this.lastSeq) return false;
    this.lastSeq = event.seq;
    switch (event.__typename) {
      case 'MessageEvent': {
        const i = this.messages.findIndex((m) => m.id === event.message.id);
        if (i === -1) this.messages.push({ ...event.message });
        else this.messages[i] = { ...event.message };
        break;
      }
      case 'MessageDeltaEvent': {
        const message = this.messages.find((m) => m.id === event.messageId);
        if (message) message.content += event.delta;
        break;
      }
      case 'RunStatusEvent':
        this.runStatus = event.run.status;
    }
    return true;
  }

  fail(error: Error): void {
    this.error = error;
  }

  get lastMessage(): Message | undefined {
    return this.messages.at(-1);
  }
}
