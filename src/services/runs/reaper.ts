import type { RunRow, Store } from '../../store/types.js';
import type { EventLog } from '../events/event-log.js';
import { endReply } from '../messages-writes.js';
import type { RunOutcome } from './run-writes.js';

const RESTARTED: RunOutcome = { status: 'FAILED', error: { code: 'SERVER_RESTARTED', message: 'The server executing the run stopped (it restarted, died or lost the database) before the run ended.' } };

/**
 * Takes over a thread whose writer is gone: its lease expired (the instance died, froze, or
 * lost the database), or, at a SQLite start-up (`force`), whatever the previous process left.
 * In one transaction under the thread's row lock: HW is lifted over everything the dead writer
 * may have published (its window and foreign seqs), its run ends FAILED / SERVER_RESTARTED with
 * the stored part of its reply INCOMPLETE (CANCELLED if a cancelRun had reached it), and the
 * lease is cleared under a new epoch, so the old writer's late writes are refused. A run is
 * never executed a second time: its provider request may have had effects (tool calls, cost).
 * Returns the ended run; null when there was nothing to take over.
 */
export async function reapThread(
  store: Store,
  log: EventLog,
  threadId: string,
  options: { force?: boolean; formerWriter?: string } = {},
): Promise<RunRow | null> {
  const run = (await store.runs.active(threadId)).find((r) => r.status === 'IN_PROGRESS');
  return log.commit(threadId, async (tx, seqs) => {
    const expired = seqs !== undefined && seqs.writer !== null && seqs.leaseExpired;
    // This instance's previous process (same INSTANCE_ID): dead, since ids are unique among live instances.
    const formerSelf = seqs !== undefined && options.formerWriter !== undefined && seqs.writer === options.formerWriter;
    if (!seqs || !(options.force || expired || formerSelf)) return { result: null, events: [] };
    const takeover = seqs.writer !== null || options.force === true;
    const outcome: RunOutcome = run?.cancelRequestedAt ? { status: 'CANCELLED' } : RESTARTED;
    const ended = run
      ? await tx.endRun(
          run.id,
          { status: outcome.status, completedAt: new Date(), errorCode: outcome.error?.code ?? null, errorMessage: outcome.error?.message ?? null, incompleteReason: null, inputTokens: null, outputTokens: null, totalTokens: null },
          ['IN_PROGRESS'],
        )
      : null;
    if (!ended) return { result: null, events: [], takeover };
    return { result: ended, events: [...(await endReply(tx, ended, null)), { kind: 'RUN_STATUS', run: ended }], takeover };
    // Another transaction holds the row (a writer mid-store, or one frozen mid-transaction until PostgreSQL ends it): next tick.
  }, { skipLocked: !options.force });
}
