import type { Store } from '../../store/types.js';
import { ThreadLockedError, type EventLog } from '../events/event-log.js';
import { reapThread } from './reaper.js';

/**
 * SQLite start-up (one instance owns the file, so every lease in it belongs to a dead process):
 * a run left IN_PROGRESS can never finish, so it ends FAILED with SERVER_RESTARTED (its partial
 * reply kept as INCOMPLETE), and its thread's seqs skip past whatever the dead process may have
 * published but not stored (its window), so no seq a client saw is reused. Returns the threads
 * that have QUEUED runs, which never reached the provider and can simply start again.
 * On PostgreSQL the reaper does this, and only for expired leases.
 */
export async function recoverRuns(store: Store, log: EventLog): Promise<{ failed: number; queuedThreads: Set<string> }> {
  const interrupted = await store.runs.withStatus('IN_PROGRESS');
  for (const threadId of new Set(interrupted.map((r) => r.threadId))) await reapThread(store, log, threadId, { force: true });
  const queued = await store.runs.withStatus('QUEUED');
  return { failed: interrupted.length, queuedThreads: new Set(queued.map((r) => r.threadId)) };
}

/**
 * PostgreSQL start-up: leases still held under this instance's INSTANCE_ID belong to its
 * previous process (ids are unique among live instances), so they are taken over now rather
 * than when they expire; a thread another instance has locked is left to the reaper. Returns how many runs ended.
 */
export async function reclaimOwnLeases(store: Store, log: EventLog): Promise<number> {
  let ended = 0;
  for (const threadId of await store.leases.heldBy(log.instanceId)) {
    try {
      if (await reapThread(store, log, threadId, { formerWriter: log.instanceId })) ended++;
    } catch (err) {
      // Another instance holds the row (its reaper, or a write of its own): skipped, not waited
      // for; the lease expires and whichever reaper comes next takes it over.
      if (!(err instanceof ThreadLockedError)) throw err;
    }
  }
  return ended;
}
