import type { ThreadSeqChanges, ThreadSeqState } from '../../store/types.js';
import type { Lease } from './thread-seqs.js';

/**
 * Where a thread's seqs come from, on any number of instances: the thread row, under its lock.
 *
 * - HW (`last_event_seq`): every seq <= HW is final, a stored row or a gap that stays a gap.
 *   Readers return rows <= HW only.
 * - A thread whose run executes has a writer (an instance, with an epoch that fences its
 *   writes and a lease it renews). The writer publishes deltas at once with seqs in
 *   (HW, window_end], and stores them in batches; each store moves HW to what it stored and the
 *   window on by WINDOW_SEQS. It never publishes past window_end: that bounds what a crash can
 *   leave published but unstored, so a takeover knows exactly which seqs to close.
 * - Another instance writing on that thread (a queued run, a cancelled one) takes seqs above
 *   greatest(window_end, foreign_seq) and records them in foreign_seq, leaving HW alone: its rows
 *   become visible at the writer's next store, which lifts HW past them (the rest of the window
 *   becomes a gap). So no row is ever visible before a lower seq that may still be stored.
 * - An idle thread (no writer) or a takeover (the writer's lease expired): HW is lifted to
 *   greatest(HW, window_end, foreign_seq), closing whatever the last writer may have published,
 *   and the events follow it: store, then publish.
 */

/** How many seqs a writer may publish ahead of what is stored (MAX_UNSTORED_DELTAS before). */
export const WINDOW_SEQS = 1024;

export interface SeqPlan {
  /** The seq of the first event written (the others follow it). */
  first: number;
  changes: ThreadSeqChanges;
  /** This instance's lease after the write: a new one, null (given up), undefined (unchanged). */
  lease?: Omit<Lease, 'confirmedAt'> | null;
}

export interface SeqRequest {
  /** Events written in this transaction (after any pending deltas). */
  count: number;
  /** The write starts a run here: this instance becomes the writer. */
  acquire?: boolean;
  /** The run ends or waits: the writer gives the lease up. */
  release?: boolean;
  /** The writer's lease expired: close its window and clear it (the reaper). */
  takeover?: boolean;
}

/**
 * The seqs of a write and the thread row after it. `lease` is this instance's lease when the
 * row says it holds it (the writer's own writes), undefined otherwise.
 */
export function planSeqs(row: ThreadSeqState, lease: Lease | undefined, me: string, ttlMs: number, req: SeqRequest): SeqPlan {
  const n = req.count;
  if (lease) {
    if (req.acquire) throw new Error('a run started on a thread whose run this instance already executes');
    const base = Math.max(lease.next - 1, row.foreignSeq, row.hw);
    const hw = base + n;
    if (req.release) return { first: base + 1, changes: { hw, windowEnd: hw, foreignSeq: 0, writer: null, writerEpoch: row.writerEpoch, leaseMs: null }, lease: null };
    const windowEnd = hw + WINDOW_SEQS;
    return {
      first: base + 1,
      changes: { hw, windowEnd, foreignSeq: 0, writer: me, writerEpoch: row.writerEpoch, leaseMs: ttlMs },
      lease: { epoch: row.writerEpoch, next: hw + 1, windowEnd },
    };
  }
  if (row.writer !== null && !req.takeover) {
    // The database refuses a second executing run on a thread (startRun, the unique index): a bug if reached.
    if (req.acquire) throw new Error(`a run started on a thread whose run ${row.writer} executes`);
    const base = Math.max(row.windowEnd, row.foreignSeq, row.hw);
    return { first: base + 1, changes: { ...unchanged(row), foreignSeq: n > 0 ? base + n : row.foreignSeq } };
  }
  const base = Math.max(row.hw, row.windowEnd, row.foreignSeq);
  const hw = base + n;
  const epoch = row.writerEpoch + (req.takeover && row.writer !== null ? 1 : 0);
  if (req.acquire) {
    const windowEnd = hw + WINDOW_SEQS;
    return {
      first: base + 1,
      changes: { hw, windowEnd, foreignSeq: 0, writer: me, writerEpoch: epoch + 1, leaseMs: ttlMs },
      lease: { epoch: epoch + 1, next: hw + 1, windowEnd },
    };
  }
  return { first: base + 1, changes: { hw, windowEnd: hw, foreignSeq: 0, writer: null, writerEpoch: epoch, leaseMs: row.writer !== null ? null : undefined } };
}

function unchanged(row: ThreadSeqState): ThreadSeqChanges {
  return { hw: row.hw, windowEnd: row.windowEnd, foreignSeq: row.foreignSeq, writer: row.writer, writerEpoch: row.writerEpoch };
}
