import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

/**
 * One process per SQLite file. Two servers on one file would each think they own every run:
 * the second's start-up recovery would end the first's live runs FAILED (SERVER_RESTARTED),
 * and both would hand out the same event seqs.
 *
 * The lock is a companion SQLite file (`<db>-lock`) held in EXCLUSIVE locking mode after one
 * write, for the life of the process. The database itself stays shared (WAL), so other tools
 * (`npm run keys`) keep working while the server runs. The OS drops the lock when the holder
 * dies, kill -9 included, so a crash never leaves a stale lock behind; the file itself may stay
 * and is reused.
 */

export class DatabaseInUseError extends Error {
  constructor(
    readonly databaseFile: string,
    readonly lockFile: string,
  ) {
    super(
      `Another threadql instance holds the database ${databaseFile} (lock file ${lockFile}). ` +
        'On SQLite only one process may serve a database file: stop the other instance first, or give this one its own DATABASE_URL.',
    );
    this.name = 'DatabaseInUseError';
  }
}

export interface InstanceLock {
  release(): void;
}

/** Takes the lock for `databaseUrl`, or throws DatabaseInUseError; `:memory:` needs none. */
export function lockDatabase(databaseUrl: string): InstanceLock {
  if (databaseUrl === ':memory:') return { release() {} };
  const databaseFile = resolve(databaseUrl);
  const lockFile = `${databaseFile}-lock`;
  mkdirSync(dirname(databaseFile), { recursive: true });
  const lock = new Database(lockFile);
  try {
    // No waiting: a held lock means a live holder, not a moment's contention.
    lock.pragma('busy_timeout = 0');
    lock.pragma('locking_mode = EXCLUSIVE');
    // A read would only keep a shared lock; the write takes the exclusive one, kept until close.
    lock.exec('CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, since TEXT NOT NULL)');
    lock.prepare('INSERT OR REPLACE INTO holder (id, pid, since) VALUES (1, ?, ?)').run(process.pid, new Date().toISOString());
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new DatabaseInUseError(databaseUrl, lockFile);
    throw error;
  }
  return {
    release() {
      if (lock.open) lock.close();
    },
  };
}
