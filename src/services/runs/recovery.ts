import type { Store } from '../../store/types.js';
import type { EventLog } from '../events/event-log.js';
import { finishRun } from './run-writes.js';

/**
 * Start-up: a run left IN_PROGRESS by a previous process can never finish, so it ends FAILED
 * with SERVER_RESTARTED (its partial reply kept as INCOMPLETE). Returns the threads that have
 * QUEUED runs, which never reached the provider and can simply start again.
 * Their threads skip the seqs of deltas that may have been published but never stored.
 */
export async function recoverRuns(store: Store, log: EventLog): Promise<{ failed: number; queuedThreads: Set<string> }> {
  const interrupted = await store.runs.withStatus('IN_PROGRESS');
  for (const run of interrupted) {
    await log.skipUnstoredSeqs(run.threadId);
    await finishRun(log, run, { status: 'FAILED', error: { code: 'SERVER_RESTARTED', message: 'The server restarted while the run was in progress.' } }, ['IN_PROGRESS']);
  }
  const queued = await store.runs.withStatus('QUEUED');
  return { failed: interrupted.length, queuedThreads: new Set(queued.map((r) => r.threadId)) };
}
