import { useEffect, useMemo, useState } from 'preact/hooks';
import { createApi, newIdempotencyKey, withRetries, type Api } from './api.js';
import { ASSISTANTS, CANCEL, CREATE_THREAD, SEND, SUBMIT_OUTPUTS, THREADS } from './operations.js';
import { isActive, useThread, type Message, type Run } from './thread-state.js';

const KEY_STORAGE = 'threadql.apiKey';

interface ThreadItem {
  id: string;
  title: string | null;
  createdAt: string;
}

/** The open thread is in the URL (#thread_…): a reload reopens it and resumes its stream. */
const threadInUrl = () => decodeURIComponent(location.hash.slice(1)) || null;

export function App() {
  const [apiKey, setApiKey] = useState(() => localStorage.getItem(KEY_STORAGE) ?? '');
  const api = useMemo(() => createApi(apiKey), [apiKey]);
  useEffect(() => () => api.dispose(), [api]);
  const [threadId, setThreadId] = useState(threadInUrl);
  const [error, setError] = useState<string | null>(null);
  const showError = (e: unknown) => setError(e instanceof Error ? e.message : String(e));
  const thread = useThread(api, threadId, showError);
  const [threads, setThreads] = useState<ThreadItem[]>([]);
  const [nextThreads, setNextThreads] = useState<string | null>(null);
  const [assistants, setAssistants] = useState<{ id: string; name: string | null }[]>([]);
  const [assistantId, setAssistantId] = useState('');

  useEffect(() => {
    const onHash = () => setThreadId(threadInUrl());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    setError(null);
    setThreads([]);
    loadThreads(api, null).catch(showError);
    api.request(ASSISTANTS).then((d) => setAssistants(d.assistants.edges.map((e: any) => e.node)), showError);
  }, [api]);

  async function loadThreads(from: Api, after: string | null): Promise<void> {
    const { threads: page } = await from.request(THREADS, { after });
    setThreads((shown) => [...shown, ...page.edges.map((e: { node: ThreadItem }) => e.node)]);
    setNextThreads(page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null);
  }

  const open = (id: string | null) => {
    location.hash = id ?? '';
    setThreadId(id);
  };

  /** A new thread is created empty, so that every message goes through sendMessage with its key. */
  async function send(content: string): Promise<void> {
    setError(null);
    let id = threadId;
    if (!id) {
      const { createThread } = await api.request(CREATE_THREAD, { input: { assistantId: assistantId || null, title: content.slice(0, 80) } });
      id = createThread.thread.id as string;
      setThreads((shown) => [createThread.thread, ...shown]);
    }
    const idempotencyKey = newIdempotencyKey();
    await withRetries(() => api.request(SEND, { input: { threadId: id, content, idempotencyKey } }));
    if (id !== threadId) open(id);
  }

  return (
    <div class="layout">
      <aside>
        <button type="button" onClick={() => open(null)}>New thread</button>
        <label>
          Assistant
          <select value={assistantId} onChange={(e) => setAssistantId(e.currentTarget.value)}>
            <option value="">None</option>
            {assistants.map((a) => <option key={a.id} value={a.id}>{a.name ?? a.id}</option>)}
          </select>
        </label>
        <ul aria-label="Threads">
          {threads.map((t) => (
            <li key={t.id}>
              <a href={`#${t.id}`} aria-current={t.id === threadId ? 'page' : undefined}>{t.title || t.id}</a>
            </li>
          ))}
        </ul>
        {nextThreads && <button type="button" onClick={() => loadThreads(api, nextThreads).catch(showError)}>More threads</button>}
        <label>
          API key
          <input
            // A text box (as the contract names it), its characters masked by CSS.
            type="text"
            class="secret"
            spellcheck={false}
            autocomplete="off"
            value={apiKey}
            placeholder="tql_… (when the server needs one)"
            onChange={(e) => {
              const key = e.currentTarget.value.trim();
              localStorage.setItem(KEY_STORAGE, key);
              setApiKey(key);
            }}
          />
        </label>
      </aside>
      <main>
        {thread.hasEarlier && <button type="button" onClick={() => thread.loadEarlier().catch(showError)}>Earlier messages</button>}
        <Messages messages={thread.messages} />
        <RunState run={thread.run} />
        {thread.run?.status === 'REQUIRES_ACTION' && <ToolOutputs key={thread.run.id} run={thread.run} api={api} onError={showError} />}
        {error && <p role="alert" class="error">{error}</p>}
        <Composer busy={isActive(thread.run)} onSend={send} onStop={() => thread.run && api.request(CANCEL, { runId: thread.run.id }).catch(showError)} onError={showError} />
      </main>
    </div>
  );
}

function Messages({ messages }: { messages: Message[] }) {
  return (
    <ol aria-label="Messages" class="messages">
      {messages.map((m) => (
        <li key={m.id} class={m.role.toLowerCase()} aria-busy={m.status === 'IN_PROGRESS'}>
          <span class="role">{m.role === 'USER' ? 'You' : 'Assistant'}</span>
          <div class="content">{m.content}</div>
          {m.status === 'INCOMPLETE' && <span class="note">(cut off)</span>}
        </li>
      ))}
    </ol>
  );
}

function RunState({ run }: { run: Run | null }) {
  return (
    <p role="status" class="run">
      {run && `Run ${run.status.toLowerCase().replace('_', ' ')}${run.error ? `: ${run.error.code} — ${run.error.message}` : ''}`}
    </p>
  );
}

/** A run waiting on tools: the person at the page plays the function and types each output. */
function ToolOutputs({ run, api, onError }: { run: Run; api: Api; onError: (e: unknown) => void }) {
  const calls = run.requiredAction?.toolCalls ?? [];
  const [outputs, setOutputs] = useState<Record<string, string>>({});
  const submit = (e: Event) => {
    e.preventDefault();
    const toolOutputs = calls.map((c) => ({ toolCallId: c.id, output: outputs[c.id] ?? '' }));
    api.request(SUBMIT_OUTPUTS, { input: { runId: run.id, toolOutputs } }).catch(onError);
  };
  return (
    <form class="tools" onSubmit={submit}>
      {calls.map((c) => (
        <fieldset key={c.id}>
          <legend>{c.name}</legend>
          <pre>{c.arguments}</pre>
          <label>
            Output for {c.name}
            <textarea rows={2} value={outputs[c.id] ?? ''} onInput={(e) => setOutputs({ ...outputs, [c.id]: e.currentTarget.value })} />
          </label>
        </fieldset>
      ))}
      <button type="submit">Submit outputs</button>
    </form>
  );
}

function Composer(props: { busy: boolean; onSend: (text: string) => Promise<void>; onStop: () => void; onError: (e: unknown) => void }) {
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const text = draft.trim();
    if (!text || sending) return;
    setSending(true);
    try {
      await props.onSend(text);
      setDraft('');
    } catch (error) {
      props.onError(error);
    } finally {
      setSending(false);
    }
  };
  return (
    <form class="composer" onSubmit={submit}>
      <label>
        Message
        <textarea
          rows={3}
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => e.key === 'Enter' && !e.shiftKey && submit(e)}
        />
      </label>
      <button type="submit" disabled={sending || props.busy}>Send</button>
      <button type="button" disabled={!props.busy} onClick={props.onStop}>Stop</button>
    </form>
  );
}
