import type Database from 'better-sqlite3';
import { performance } from 'node:perf_hooks';
import type { StoreTx, TransactionOptions } from '../types.js';
import { guarded } from './driver-errors.js';
import type { SqliteTx } from './tx.js';

/**
 * Group commit. The store's transactions run one after another on its one connection; those
 * that queue up run inside one SQLite transaction, each in its own SAVEPOINT, and share its
 * COMMIT. A COMMIT writes every page the transaction changed to the WAL in full (a run's three
 * transactions wrote ~18 pages each), and transactions made together change mostly the same pages
 * (the last page of each table and of each id-keyed index, ids being time-ordered): runs'
 * transactions committed together write a fraction of what a COMMIT each writes.
 *
 * A transaction's work is synchronous SQLite calls, so another one rarely queues while it runs;
 * they come from the I/O of the same turn of the event loop (other requests, other provider
 * chunks). So a group that has finished its first transaction waits one turn (setImmediate) for
 * those before it commits: a lone transaction's COMMIT comes that much later (tens of µs), while
 * twenty concurrent runs commit in groups of 3–6. A transaction on the way to a first token
 * (`atOnce`: one that starts a run, the reply's row) does not wait: under load the turn it
 * waited delayed every first token. It still takes along what queued while it ran.
 *
 * What each caller sees is unchanged:
 * - its promise settles after the COMMIT that made its writes durable, never before;
 * - a failed transaction is rolled back to its savepoint alone: nothing of it stays, its caller
 *   gets its error, and the others of the group commit as before;
 * - a COMMIT that fails (or SQLite rolling the whole transaction back by itself, SQLITE_FULL)
 *   fails every transaction of the group: none of them was reported done, none is kept;
 * - everything else of the store (reads, the checkpoint hold) waits while a group runs, as it waited
 *   for one transaction, and sees committed rows only.
 */

/** At most this many transactions share a COMMIT… */
const MAX_UNITS = 16;
/** …and a group takes on no new one after running this long, so no caller's COMMIT waits for long. */
const MAX_GROUP_MS = 2;

interface Unit {
  work: (tx: StoreTx) => Promise<unknown>;
  /** Read once the work is done (the work may set atOnce). */
  options: TransactionOptions;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export type Exclusive = <T>(work: () => Promise<T>) => Promise<T>;

export interface GroupCommit {
  transaction<T>(work: (tx: StoreTx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Resolves once no transaction is queued or running (before the store closes its connection). */
  idle(): Promise<void>;
}

/** The group's limits (tests on a loaded machine widen the time limit so that their groups form). */
export interface GroupLimits {
  maxUnits: number;
  maxGroupMs: number;
}

export function groupCommit(
  client: Database.Database,
  tx: SqliteTx,
  exclusive: Exclusive,
  limits: GroupLimits = { maxUnits: MAX_UNITS, maxGroupMs: MAX_GROUP_MS },
): GroupCommit {
  // Prepared, like every other statement (the bench counts transactions by their BEGIN).
  const begin = client.prepare('begin immediate');
  const commit = client.prepare('commit');
  const rollback = client.prepare('rollback');
  const savepoint = client.prepare('savepoint unit');
  const release = client.prepare('release unit');
  const rollbackToSavepoint = client.prepare('rollback to unit');
  const queue: Unit[] = [];
  let draining = false;

  /** Rolls back whatever is open; a failed rollback leaves SQLite to roll back itself. */
  const rollBackAll = () => {
    try {
      if (client.open && client.inTransaction) rollback.run();
    } catch {
      // The original error says what went wrong.
    }
  };

  /** One unit's work, with the helper's per-transaction state reset before and written after. */
  const perform = async (unit: Unit): Promise<unknown> => {
    tx.reset();
    const result = await unit.work(tx);
    guarded(() => tx.finish());
    return result;
  };

  async function runGroup(): Promise<void> {
    const first = queue.shift();
    if (!first) return;
    try {
      // A rollback that failed earlier may have left a transaction open: BEGIN would then fail for good.
      rollBackAll();
      guarded(() => begin.run());
    } catch (error) {
      return first.reject(error);
    }
    const done: { unit: Unit; result: unknown }[] = [];
    // Undone alone, but told only after the COMMIT: a caller that reads back what refused it (the
    // row with its idempotency key) must find it committed, not in this open transaction.
    const undone: { unit: Unit; error: unknown }[] = [];
    /** The whole group is gone: nobody's writes are kept, everybody gets this error. */
    const failAll = (error: unknown) => {
      rollBackAll();
      for (const d of done) d.unit.reject(error);
      for (const u of undone) u.unit.reject(error);
    };
    try {
      // The first needs no savepoint: its failure rolls back a transaction that holds nothing else.
      done.push({ unit: first, result: await perform(first) });
    } catch (error) {
      rollBackAll();
      return first.reject(error);
    }
    // One turn of the event loop: transactions that the I/O of this turn starts join the group.
    if (queue.length === 0 && first.options.atOnce !== true) await new Promise((resolve) => setImmediate(resolve));
    // Counted from here, not across the wait: a slow turn must not shrink the groups (then every
    // group of one would wait a turn, and a backlog would take a turn per transaction).
    const startedAt = performance.now();
    while (queue.length > 0 && done.length + undone.length < limits.maxUnits && performance.now() - startedAt < limits.maxGroupMs) {
      const unit = queue.shift()!;
      try {
        guarded(() => savepoint.run());
        const result = await perform(unit);
        guarded(() => release.run());
        done.push({ unit, result });
      } catch (error) {
        if (!undoUnit()) {
          // The whole transaction is gone (SQLite rolled it back, or the savepoint could not be undone): so are the earlier units' writes.
          failAll(error);
          return unit.reject(error);
        }
        undone.push({ unit, error });
      }
    }
    try {
      guarded(() => commit.run());
    } catch (error) {
      // An undone one too gets the COMMIT's error: what refused it is gone.
      return failAll(error);
    }
    for (const d of done) d.unit.resolve(d.result);
    for (const u of undone) u.unit.reject(u.error);
  }

  /** Undoes the current unit's writes and keeps the group's; false when that is not possible. */
  function undoUnit(): boolean {
    if (!client.open || !client.inTransaction) return false;
    try {
      rollbackToSavepoint.run();
      release.run();
      return true;
    } catch {
      return false;
    }
  }

  let drained: Promise<void> = Promise.resolve();
  async function drain(): Promise<void> {
    draining = true;
    try {
      // Each group takes its turn behind what already waits for the store (reads, a checkpoint hold).
      while (queue.length > 0) await exclusive(runGroup);
    } finally {
      draining = false;
    }
  }

  return {
    transaction: <T>(work: (tx: StoreTx) => Promise<T>, options?: TransactionOptions) =>
      new Promise<T>((resolve, reject) => {
        queue.push({ work, options: options ?? {}, resolve: resolve as (value: unknown) => void, reject });
        if (!draining) drained = drain();
      }),
    async idle() {
      // A transaction that a settling one starts joins the same drain: wait until none is left.
      while (draining || queue.length > 0) await drained;
    },
  };
}
