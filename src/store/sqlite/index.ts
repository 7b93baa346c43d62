import { sql } from 'drizzle-orm';
import type { Store } from '../types.js';
import { startCheckpoints } from './checkpoints.js';
import { closeDb, createDb, type Db } from './client.js';
import { guarded } from './driver-errors.js';
import { lockDatabase } from './instance-lock.js';
import { assistantStore, eventStore, keyStore, leaseStore, messageStore, runStore, threadStore } from './nouns.js';
import { groupCommit, type GroupLimits } from './group-commit.js';
import { sqliteTx } from './tx.js';

export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  /** The Drizzle database (tests and the CLI reach it; services never do). */
  readonly db: Db;
}

/**
 * The SQLite store. better-sqlite3 is synchronous and has one connection, so an asynchronous
 * transaction must keep everything else off that connection until it ends, or another
 * request's write would land in it (and vanish with its rollback). Every operation therefore
 * waits while a transaction is open; transactions run one after another (and those that
 * queue up share one COMMIT: group-commit.ts).
 */
export function createSqliteStore(url: string, options: { lock?: boolean; groupLimits?: GroupLimits } = {}): SqliteStore {
  // Before opening: migrations and start-up recovery must never touch another live instance's database.
  const lock = options.lock ? lockDatabase(url) : null;
  let db: Db;
  try {
    db = createDb(url);
  } catch (error) {
    lock?.release();
    throw error;
  }
  let open: Promise<void> | null = null;

  const run = async <T>(call: () => T): Promise<T> => {
    while (open) await open;
    return guarded(call);
  };

  /** Runs `work` while no other operation of the store runs (they wait for `open`). */
  async function exclusive<T>(work: () => Promise<T>): Promise<T> {
    while (open) await open;
    let release!: () => void;
    open = new Promise<void>((resolve) => (release = resolve));
    try {
      return await work();
    } finally {
      open = null;
      release();
    }
  }

  const checkpoints = startCheckpoints(db, url, exclusive);
  // Transactions that wait for one another share a COMMIT (group-commit.ts).
  const transactions = groupCommit(db.$client, sqliteTx(db), exclusive, options.groupLimits);

  return {
    kind: 'sqlite',
    db,
    assistants: assistantStore(db, run),
    threads: threadStore(db, run),
    messages: messageStore(db, run),
    runs: runStore(db, run),
    events: eventStore(db, run),
    keys: keyStore(db, run),
    leases: leaseStore(db, run),
    transaction: transactions.transaction,
    ping: () => run(() => void db.get(sql`select 1`)),
    async close() {
      // Queued transactions finish first (a group may be waiting a turn for joiners), then whatever else runs;
      // again after the checkpoints stop, for what began meanwhile.
      const settled = async () => {
        await transactions.idle();
        while (open) await open;
      };
      await settled();
      await checkpoints?.stop();
      await settled();
      closeDb(db);
      lock?.release();
    },
  };
}
