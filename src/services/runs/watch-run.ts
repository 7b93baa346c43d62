import type { RunRow, Store } from '../../store/types.js';
import type { EventLog } from '../events/event-log.js';
import { isTerminalRunStatus } from '../events/types.js';

/** How often a wait for a run executing elsewhere reads its row (its events usually come first). */
const WATCH_POLL_MS = 250;

const settled = (status: RunRow['status']) => isTerminalRunStatus(status) || status === 'REQUIRES_ACTION';

/**
 * Resolves with the run once it has ended or waits for tool outputs, wherever it executes
 * (another instance): its RUN_STATUS event on the bus, or its row, read now and then as the
 * fallback for a lost event. null after `timeoutMs`, or once `stopped` aborts (shutdown).
 */
export function watchRun(
  deps: { store: Store; events: EventLog },
  run: Pick<RunRow, 'id' | 'threadId'>,
  timeoutMs: number,
  stopped: AbortSignal,
): Promise<RunRow | null> {
  return new Promise((resolve) => {
    let done = false;
    let poll: NodeJS.Timeout | undefined;
    const finish = (row: RunRow | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(poll);
      subscription.unsubscribe();
      stopped.removeEventListener('abort', onStop);
      resolve(row);
    };
    const onStop = () => finish(null);
    const subscription = deps.events.subscribe(run.threadId, {
      event: (e) => {
        if (e.kind === 'RUN_STATUS' && e.run.id === run.id && settled(e.run.status)) finish(e.run);
      },
    });
    const tick = () => {
      deps.store.runs
        .find(run.id)
        .then(
          (row) => (!row || settled(row.status) ? finish(row ?? null) : undefined),
          () => undefined,
        )
        .finally(() => {
          if (!done) poll = setTimeout(tick, WATCH_POLL_MS);
        });
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    stopped.addEventListener('abort', onStop);
    if (stopped.aborted) return finish(null);
    tick();
  });
}
