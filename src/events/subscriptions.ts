import type { Db } from '../db/client.js';
import { findMessage, findRun, findThread } from '../db/lookups.js';
import { NotFoundError } from '../errors.js';
import type { EventLog } from './event-log.js';
import { EventQueue } from './event-queue.js';
import { isTerminalRunStatus, type ThreadEvent } from './types.js';

/** Stored events read per page of a replay: bounds the memory one subscriber can pin. */
const REPLAY_PAGE_SIZE = 500;

/**
 * threadEvents: stored events with seq > after (none when after is null), read page by page as
 * the client consumes them, then live ones. Never ends by itself.
 */
export function threadEventStream(
  db: Db,
  log: EventLog,
  threadId: string,
  after: number | null,
  owner: string,
): EventQueue<ThreadEvent> {
  if (!findThread(db, threadId, owner)) throw new NotFoundError('thread', threadId);
  let unsubscribe = () => {};
  const queue = new EventQueue<ThreadEvent>(() => unsubscribe());
  // Seq only ever grows on one stream: nothing at or below what was already sent (or `after`).
  let lastSent = after ?? 0;
  const send = (event: ThreadEvent) => {
    if (event.seq <= lastSent) return;
    lastSent = event.seq;
    queue.push(event);
  };
  // While the replay is read, live events wait here; events found in both are sent once (by seq).
  let waitingLive: ThreadEvent[] | null = after === null ? null : [];
  unsubscribe = log.subscribe(threadId, (event) => (waitingLive ? waitingLive.push(event) : send(event)));
  if (waitingLive) {
    queue.onDrain = () => {
      const page = log.readStored(threadId, lastSent, REPLAY_PAGE_SIZE);
      page.forEach(send);
      if (page.length < REPLAY_PAGE_SIZE) {
        waitingLive!.forEach(send);
        waitingLive = null;
        queue.onDrain = null;
      }
    };
  }
  // Tracked until drained, not just ended: shutdown waits for the events still queued. Ending
  // it (shutdown, deleteThread) first queues the rest of the replay and the live events held
  // back, so the client still gets everything up to the last (terminal) event.
  const closable = {
    end: () => {
      while (queue.onDrain) queue.onDrain();
      queue.end();
    },
    drained: queue.drained,
  };
  void queue.drained.then(log.trackStream(closable, threadId));
  return queue;
}

/**
 * runEvents: a snapshot (the reply so far, then the run's status, both at the thread's current
 * seq), then the run's live events; ends after the run's terminal status event.
 */
export function runEventStream(db: Db, log: EventLog, runId: string, owner: string): EventQueue<ThreadEvent> {
  const found = findRun(db, runId, owner);
  if (!found) throw new NotFoundError('run', runId);
  // Stored state and seq must describe the same moment: store pending deltas first.
  log.flush(found.threadId);
  const run = findRun(db, runId)!;
  const seq = findThread(db, run.threadId)!.lastEventSeq;
  const reply = run.replyMessageId ? findMessage(db, run.replyMessageId) : undefined;

  let unsubscribe = () => {};
  const queue = new EventQueue<ThreadEvent>(() => unsubscribe());
  if (reply) queue.push({ kind: 'MESSAGE', seq, threadId: run.threadId, message: reply });
  queue.push({ kind: 'RUN_STATUS', seq, threadId: run.threadId, run });
  if (isTerminalRunStatus(run.status)) {
    queue.end();
    return queue;
  }
  unsubscribe = log.subscribe(run.threadId, (event) => {
    if (event.seq <= seq || !belongsToRun(event, runId)) return;
    queue.push(event);
    if (event.kind === 'RUN_STATUS' && isTerminalRunStatus(event.run.status)) queue.end();
  });
  // Tracked until drained, not just ended: shutdown waits for the events still queued.
  void queue.drained.then(log.trackStream(queue, run.threadId));
  return queue;
}

function belongsToRun(event: ThreadEvent, runId: string): boolean {
  switch (event.kind) {
    case 'RUN_STATUS':
      return event.run.id === runId;
    case 'MESSAGE_DELTA':
      return event.runId === runId;
    case 'MESSAGE':
      return event.message.role === 'ASSISTANT' && event.message.runId === runId;
  }
}
