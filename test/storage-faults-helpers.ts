import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { FakeProvider } from './fake-provider.js';
import { NO_RATE_LIMIT, startTestServer, type TestServer } from './helpers.js';

/**
 * Fault injection for the storage-fault tests (not a test file itself): a SQLite trigger that
 * refuses writes until lifted (and counts the refused attempts), a small tmpfs that can be
 * filled to the last byte, and a server whose log lines the test can wait on.
 */

// ---- A server whose logs the test reads ----------------------------------------------------------

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The server's log lines (warn and above), and a way to wait for one. */
export class LogCapture {
  readonly lines: LogLine[] = [];
  private readonly waiters: { check: () => boolean; resolve: () => void }[] = [];

  /** pino's destination. */
  readonly stream = {
    write: (line: string) => {
      this.lines.push(JSON.parse(line) as LogLine);
      for (const w of [...this.waiters]) if (w.check()) (this.waiters.splice(this.waiters.indexOf(w), 1), w.resolve());
    },
  };

  count(msg: string | RegExp): number {
    return this.lines.filter((l) => (typeof msg === 'string' ? l.msg.includes(msg) : msg.test(l.msg))).length;
  }

  /** Resolves once `count` lines whose msg matches have been logged. */
  waitFor(msg: string | RegExp, count = 1, timeoutMs = 5000): Promise<void> {
    const check = () => this.count(msg) >= count;
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for ${count} log line(s) matching ${msg} (have ${this.count(msg)})`));
      }, timeoutMs);
      const waiter = { check, resolve: () => (clearTimeout(timer), resolve()) };
      this.waiters.push(waiter);
    });
  }
}

export interface FaultServer extends TestServer {
  logs: LogCapture;
}

/** Like startTestServer, with the server's warnings and errors captured instead of silenced. */
export async function startFaultServer(options: { provider?: FakeProvider; databaseFile?: string; env?: Record<string, string> } = {}): Promise<FaultServer> {
  const logs = new LogCapture();
  const server = await startTestServer({
    ...options,
    env: { LOG_LEVEL: 'warn', ...NO_RATE_LIMIT, ...options.env },
    logger: pino({ level: 'warn' }, logs.stream),
  });
  return Object.assign(server, { logs });
}

/** The server's own connection (better-sqlite3), to fence tables and read rows as they are stored. */
export const rawDb = (server: TestServer) => server.services.store.db.$client;

/**
 * Runs DDL on the server's connection between its transactions: a statement run inside one of
 * them would become part of it (and vanish with its rollback).
 */
async function betweenTransactions(server: TestServer, sql: string): Promise<void> {
  const db = rawDb(server);
  while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
  db.exec(sql);
}

// ---- A write the database refuses -----------------------------------------------------------------

let faults = 0;

/**
 * A trigger that refuses writes to a table (SQLITE_CONSTRAINT_TRIGGER, which the store treats
 * like a full disk) until lifted. Each refused row counts as an attempt, so a test can wait
 * for "refused, then retried" instead of sleeping.
 */
export class WriteFault {
  attempts = 0;
  private readonly name = `fault_${++faults}`;
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  private lifted = false;

  private constructor(private readonly server: TestServer) {}

  /** Refuses `op` on `table` (for rows matching `when`, an SQL condition on NEW/OLD). */
  static async install(server: TestServer, fence: { table: string; op: 'INSERT' | 'UPDATE' | 'DELETE'; when?: string }): Promise<WriteFault> {
    const fault = new WriteFault(server);
    // The counter is a function of the server's connection; the trigger calls it for the rows it refuses.
    rawDb(server).function(`${fault.name}_hit`, { deterministic: false }, () => {
      fault.attempts++;
      for (const w of [...fault.waiters]) if (fault.attempts >= w.count) (fault.waiters.splice(fault.waiters.indexOf(w), 1), w.resolve());
      return 1;
    });
    const when = fence.when ? `(${fence.when}) AND ${fault.name}_hit()` : `${fault.name}_hit()`;
    await betweenTransactions(
      server,
      `CREATE TRIGGER ${fault.name} BEFORE ${fence.op} ON ${fence.table} FOR EACH ROW WHEN ${when}
         BEGIN SELECT RAISE(ABORT, 'injected fault: ${fence.op} on ${fence.table} refused'); END;`,
    );
    return fault;
  }

  /** Resolves once `count` writes have been refused. */
  waitForAttempts(count: number, timeoutMs = 5000): Promise<void> {
    if (this.attempts >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting for ${count} refused writes (have ${this.attempts})`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** "The disk has room again": the writes go through from now on. */
  async lift(): Promise<void> {
    if (this.lifted) return;
    this.lifted = true;
    await betweenTransactions(this.server, `DROP TRIGGER IF EXISTS ${this.name}`);
  }
}

// ---- A real full disk -----------------------------------------------------------------------------

/** A fresh tmpfs of `sizeMb`, or why there is none (not root, no mount). */
export function mountTmpfs(sizeMb: number): { dir: string } | { reason: string } {
  const dir = mkdtempSync(join(tmpdir(), 'threadql-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (error) {
    rmdirSync(dir);
    return { reason: `cannot mount a tmpfs (${String((error as { stderr?: Buffer }).stderr ?? error).trim()}); the full-disk test needs root` };
  }
}

export function unmountTmpfs(dir: string): void {
  execFileSync('umount', [dir], { stdio: 'pipe' });
  rmdirSync(dir);
}

/**
 * Fills the file system holding `dir` to the last byte (big writes, then smaller ones down to
 * single bytes, until each size gets ENOSPC). Returns the filler's path; delete it to free the disk.
 */
export function fillDisk(dir: string): string {
  const filler = join(dir, 'filler.bin');
  const fd = openSync(filler, 'a');
  try {
    for (const size of [1 << 20, 64 << 10, 4096, 512, 64, 1]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          if (writeSync(fd, chunk) < size) break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}

export function freeDisk(filler: string): void {
  rmSync(filler, { force: true });
}
