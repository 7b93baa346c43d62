import type { Logger } from 'pino';
import type { Store } from '../../store/types.js';

/** Deltas deleted per statement: a long backlog is compacted in short steps, never in one long lock. */
const COMPACTION_BATCH = 2000;
/** The first compaction runs this long after start-up, off its path. */
const FIRST_RUN_DELAY_MS = 5000;

/**
 * Deletes the stored deltas of finished messages older than the retention window. The
 * message's final MessageEvent stays and stands for them, so a replay from before the window
 * still ends with the exact content. Returns the number of deltas removed.
 */
export async function compactDeltas(store: Store, retentionMs: number, now = Date.now()): Promise<number> {
  const before = new Date(now - retentionMs);
  let total = 0;
  for (;;) {
    const removed = await store.events.compactDeltas(before, COMPACTION_BATCH);
    total += removed;
    if (removed < COMPACTION_BATCH) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Compacts soon after start-up and then every hour; errors are logged, never thrown. Returns the stopper. */
export function scheduleCompaction(store: Store, retentionMs: number, logger: Logger): () => void {
  let running = false;
  const compact = () => {
    if (running) return;
    running = true;
    compactDeltas(store, retentionMs)
      .catch((err: unknown) => logger.error({ err }, 'compaction failed; it runs again in an hour'))
      .finally(() => (running = false));
  };
  const first = setTimeout(compact, FIRST_RUN_DELAY_MS);
  const timer = setInterval(compact, 3_600_000);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
