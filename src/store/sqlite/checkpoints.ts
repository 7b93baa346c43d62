import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Db } from './client.js';

/**
 * WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the COMMIT
 * that crosses 1,000 WAL pages: that commit copies the pages into the database file and fsyncs
 * it, on the event loop (milliseconds, a stall for every stream). Here the main connection
 * never checkpoints (wal_autocheckpoint = 0); a worker thread with its own connection runs a
 * PASSIVE checkpoint on a timer, which copies what is committed without blocking writers or
 * readers. Durability is unchanged: a transaction is durable against a process crash once its
 * COMMIT is in the WAL file (synchronous = NORMAL), whoever checkpoints it later.
 *
 * Under a steady stream of commits the WAL may never be wholly checkpointed at the moment a
 * write begins, and so never restart from its beginning: past MAX_WAL_FRAMES the main connection
 * checkpoints once itself, between transactions (a tail the worker mostly copied already), so
 * the next write restarts the WAL. If the worker fails, the main connection checkpoints
 * automatically again, as SQLite does by default.
 */

const CHECKPOINT_EVERY_MS = 200;
/** SQLite's default autocheckpoint is 1,000 pages; past this many frames the WAL is restarted from the main connection. */
const MAX_WAL_FRAMES = 16_000;
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/** The worker: plain CommonJS (eval), so that it runs the same under tsx, vitest and dist/. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    // { busy, log, checkpointed }: log is the WAL's length in frames (0 once it restarted).
    const frames = checkpoint.get().log;
    if (frames > workerData.maxFrames) parentPort.postMessage(frames);
  } catch (error) {
    // A busy or full database: the next tick tries again.
  }
}, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** Stops the worker and closes its connection (before the main connection closes). */
  stop(): Promise<void>;
}

/**
 * Starts checkpointing `db` (a WAL file database) from a worker thread. `idle` says whether the
 * main connection is between transactions (its own checkpoint must not run inside one).
 */
export function startCheckpoints(db: Db, url: string, idle: () => boolean): Checkpointer | null {
  const file = resolve(url);
  if (url === ':memory:' || String(db.$client.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
  const sqlite = db.$client;
  const mainCheckpoint = sqlite.prepare('pragma wal_checkpoint(PASSIVE)');
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, everyMs: CHECKPOINT_EVERY_MS, maxFrames: MAX_WAL_FRAMES } });
  worker.unref();
  sqlite.pragma('wal_autocheckpoint = 0');
  let stopped = false;
  const fallBack = () => {
    if (!stopped && sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  };
  worker.on('error', fallBack);
  worker.on('exit', fallBack);
  // The WAL grew past its cap without restarting: one checkpoint here, between transactions.
  worker.on('message', () => {
    if (stopped || !sqlite.open || !idle()) return;
    try {
      mainCheckpoint.run();
    } catch {
      // Busy (the worker's own checkpoint) or a failing disk: tried again after the next tick.
    }
  });
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      const exited = new Promise<void>((done) => worker.once('exit', () => done()));
      worker.postMessage('stop');
      // A worker stuck in a checkpoint is ended: an interrupted checkpoint is harmless to SQLite.
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
