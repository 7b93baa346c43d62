import { useEffect, useRef, useState } from 'preact/hooks';
import type { Api } from './api.js';
import { THREAD, THREAD_EVENTS } from './operations.js';

export interface Message {
  id: string;
  role: string;
  content: string;
  status: string;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface Run {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
  requiredAction: { toolCalls: ToolCall[] } | null;
}

const ENDED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE', 'EXPIRED']);
export const isActive = (run: Run | null) => run !== null && !ENDED.has(run.status);

/**
 * One thread as the server holds it, kept exact by the reload-without-loss pattern: read
 * `thread { lastEventSeq messages }`, then subscribe `threadEvents(after: lastEventSeq)` and
 * apply each event in order — a MessageEvent replaces a message, a MessageDeltaEvent appends
 * to it, a RunStatusEvent is the run's new state. A reload, a second tab or a reconnect all
 * end with the stored text, never a token missed or doubled.
 */
export function useThread(api: Api, threadId: string | null, onError: (error: Error) => void) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [run, setRun] = useState<Run | null>(null);
  const [earlier, setEarlier] = useState<string | null>(null);
  const lastSeq = useRef(0);

  useEffect(() => {
    setMessages([]);
    setRun(null);
    setEarlier(null);
    if (!threadId) return;
    let open = true;
    let unsubscribe = () => {};
    api
      .request(THREAD, { id: threadId })
      .then(({ thread }) => {
        if (!open) return;
        setMessages(thread.messages.edges.map((e: { node: Message }) => e.node));
        setEarlier(thread.messages.pageInfo.hasPreviousPage ? thread.messages.pageInfo.startCursor : null);
        setRun(thread.activeRun);
        lastSeq.current = thread.lastEventSeq;
        unsubscribe = api.subscribe(THREAD_EVENTS, { threadId, after: thread.lastEventSeq }, ({ threadEvents: event }) => {
          // After a reconnect graphql-ws subscribes again from the same `after`: skip what is applied.
          if (event.seq <= lastSeq.current) return;
          lastSeq.current = event.seq;
          apply(event);
        }, onError);
      })
      .catch(onError);
    return () => {
      open = false;
      unsubscribe();
    };
  }, [api, threadId]);

  function apply(event: any): void {
    if (event.__typename === 'MessageEvent') setMessages((all) => upsert(all, event.message));
    if (event.__typename === 'MessageDeltaEvent') {
      setMessages((all) => all.map((m) => (m.id === event.messageId ? { ...m, content: m.content + event.delta } : m)));
    }
    if (event.__typename === 'RunStatusEvent') setRun(event.run);
  }

  /** The page of messages before the oldest one shown. */
  async function loadEarlier(): Promise<void> {
    if (!threadId || !earlier) return;
    const { thread } = await api.request(THREAD, { id: threadId, before: earlier });
    setMessages((all) => [...thread.messages.edges.map((e: { node: Message }) => e.node).filter((m: Message) => !all.some((n) => n.id === m.id)), ...all]);
    setEarlier(thread.messages.pageInfo.hasPreviousPage ? thread.messages.pageInfo.startCursor : null);
  }

  return { messages, run, hasEarlier: earlier !== null, loadEarlier };
}

function upsert(all: Message[], message: Message): Message[] {
  return all.some((m) => m.id === message.id) ? all.map((m) => (m.id === message.id ? message : m)) : [...all, message];
}
