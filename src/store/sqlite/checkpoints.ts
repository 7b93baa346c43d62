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
 * COMMIT is in the WAL file (synchronous = NORMAL), whoever checkpoints it later; a checkpoint
 * fsyncs the database file before the WAL may be overwritten, whichever connection runs it.
 *
 * The WAL restarts from its beginning only when a write begins with every frame checkpointed.
 * Under a steady stream of commits that moment comes only in a pause between two commits, which
 * a checkpoint every 200 ms rarely meets: a WAL that did not restart is therefore checkpointed
 * again every few milliseconds (CATCH_UP_EVERY_MS) until one does. Should it still grow past
 * MAX_WAL_FRAMES (commits back to back, no pause at all), the store holds its operations
 * (`hold`: they wait, as behind a transaction; the event loop does not) while the worker
 * checkpoints once with no writer, so the next write restarts the WAL. A hold is the last
 * resort: what queued behind it runs back to back once it ends (under 500 streams, 20–40 ms of
 * sends and flushes with no socket read in between). If the worker fails, the main connection
 * checkpoints automatically again, as SQLite does by default.
 */

const CHECKPOINT_EVERY_MS = 200;
/**
 * A WAL longer than this that is still written to is checkpointed every CATCH_UP_EVERY_MS: each
 * checkpoint then copies only a few commits' pages, and one that meets a pause between commits
 * (no transaction open, none begun on a snapshot older than its copy) leaves the WAL whole, so the
 * next write restarts it, with no hold. (A WAL reported whole is not enough: a transaction that
 * began during the copy reads the old snapshot and does not restart it.)
 */
const CATCH_UP_FRAMES = 500;
const CATCH_UP_EVERY_MS = 5;
/** About 16 MB of 4 KB pages; SQLite's own automatic checkpoint runs every 1,000. */
const MAX_WAL_FRAMES = 4000;
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** A held store is released after this long even if the worker has not answered. */
const HOLD_AT_MOST_MS = 2000;
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

/**
 * The worker: plain CommonJS (eval), so that it runs the same under tsx, vitest and dist/.
 * It reports a WAL past the cap ('long'), and answers 'drained' to each 'drain' (a checkpoint
 * while the main connection writes nothing).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
const checkpoint = db.prepare('pragma wal_checkpoint(PASSIVE)');
// { busy, log, checkpointed }: log is the WAL's length in frames (0 once it restarted).
const run = () => {
  try {
    return checkpoint.get();
  } catch (error) {
    return null; // busy or a full disk: the next tick tries again
  }
};
let reported = false;
let timer = null;
let lastLog = -1;
const tick = () => {
  const result = run();
  const long = result !== null && result.log > workerData.maxFrames;
  if (long && !reported) parentPort.postMessage('long');
  reported = long;
  // Long, and written to since the last tick: checkpointed again soon, so that a pause between two
  // commits finds it whole with no transaction open (the next write then restarts it) long before
  // the cap asks for a hold. Not written to (an idle store): the usual pace, nothing new to copy.
  const behind = result !== null && result.log > workerData.catchUpFrames && result.log !== lastLog;
  if (result !== null) lastLog = result.log;
  timer = setTimeout(tick, behind ? workerData.catchUpMs : workerData.everyMs);
};
timer = setTimeout(tick, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message === 'drain') {
    run();
    reported = false;
    parentPort.postMessage('drained');
    return;
  }
  if (message !== 'stop') return;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** Stops the worker and closes its connection (before the main connection closes). */
  stop(): Promise<void>;
}

/**
 * Starts checkpointing `db` (a WAL file database) from a worker thread; null for a database
 * without a WAL file (`:memory:`). `hold` runs `work` while no other operation of the store
 * runs (the store's transaction queue).
 */
export function startCheckpoints(db: Db, url: string, hold: (work: () => Promise<void>) => Promise<void>): Checkpointer | null {
  if (url === ':memory:' || String(db.$client.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') return null;
  const sqlite = db.$client;
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const workerData = { driver, file: resolve(url), everyMs: CHECKPOINT_EVERY_MS, maxFrames: MAX_WAL_FRAMES, catchUpFrames: CATCH_UP_FRAMES, catchUpMs: CATCH_UP_EVERY_MS };
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
  worker.unref();
  sqlite.pragma('wal_autocheckpoint = 0');
  // A burst may grow the file past the cap before it restarts: truncated back at the restart, not kept for good.
  sqlite.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  let stopped = false;
  let drained: (() => void) | null = null;
  // Listened for from the start: a worker that already ended (it failed) must not keep stop() waiting forever.
  let ended = false;
  const exited = new Promise<void>((done) => worker.once('exit', () => ((ended = true), done())));
  const fallBack = () => {
    drained?.();
    if (!stopped && sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  };
  worker.on('error', fallBack);
  worker.on('exit', fallBack);
  worker.on('message', (message: string) => {
    if (message === 'drained') return drained?.();
    if (message !== 'long' || stopped || drained) return;
    void hold(async () => {
      if (stopped) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((done) => {
        drained = done;
        timer = setTimeout(done, HOLD_AT_MOST_MS);
        worker.postMessage('drain');
      });
      clearTimeout(timer);
      drained = null;
    });
  });
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      if (ended) return;
      worker.postMessage('stop');
      // A worker stuck in a checkpoint is ended: an interrupted checkpoint is harmless to SQLite.
      const timer = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
