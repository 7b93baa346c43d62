import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { messages, runs } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import { finishRun } from './run-writes.js';

/**
 * Start-up: a run left IN_PROGRESS by a previous process can never finish, so it ends FAILED
 * with SERVER_RESTARTED (its partial reply kept as INCOMPLETE). Returns the threads that have
 * QUEUED runs, which never reached the provider and can simply start again.
 * Their threads skip the seqs of deltas that may have been published but never stored.
 */
export function recoverRuns(db: Db, log: EventLog): { failed: number; queuedThreads: Set<string> } {
  const interrupted = db.select().from(runs).where(eq(runs.status, 'IN_PROGRESS')).all();
  for (const run of interrupted) {
    log.skipUnstoredSeqs(run.threadId);
    finishRun(log, run.id, run.threadId, {
      status: 'FAILED',
      error: { code: 'SERVER_RESTARTED', message: 'The server restarted while the run was in progress.' },
    });
  }
  // A message can only be IN_PROGRESS as the reply of an IN_PROGRESS run; this is a safety net.
  db.update(messages).set({ status: 'INCOMPLETE' }).where(eq(messages.status, 'IN_PROGRESS')).run();

  const queued = db.select({ threadId: runs.threadId }).from(runs).where(eq(runs.status, 'QUEUED')).all();
  return { failed: interrupted.length, queuedThreads: new Set(queued.map((r) => r.threadId)) };
}
