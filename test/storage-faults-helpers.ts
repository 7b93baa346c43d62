import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { FakeProvider } from './fake-provider.js';
import { NO_RATE_LIMIT, rawSql, startTestServer, waitUntil, type TestServer } from './helpers.js';

/**
 * Fault injection for the storage-fault tests (not a test file itself): a trigger that
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

/**
 * The server's own SQLite connection, for what only SQLite has (pragmas, its transaction flag).
 * Backend-neutral reads and DDL go through rawSql (test/test-database.ts).
 */
export function rawSqlite(server: TestServer) {
  const store = server.services.store;
  if (store.kind !== 'sqlite') throw new Error('this check reads SQLite internals');
  return store.db.$client;
}

/**
 * Runs DDL between the server's transactions. On SQLite the server has one connection: a
 * statement run inside one of its transactions would become part of it (and vanish with its
 * rollback). On PostgreSQL the DDL runs on a pooled connection of its own.
 */
async function betweenTransactions(server: TestServer, sql: string): Promise<void> {
  if (server.services.store.kind === 'sqlite') {
    const db = rawSqlite(server);
    while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
    db.exec(sql);
    return;
  }
  await rawSql(server, sql);
}

// ---- A write the database refuses -----------------------------------------------------------------

let faults = 0;

/**
 * A trigger that refuses writes to a table until lifted: on SQLite SQLITE_CONSTRAINT_TRIGGER, on
 * PostgreSQL a PL/pgSQL RAISE (SQLSTATE P0001); both stores treat it like a full disk. Each
 * refused row counts as an attempt (SQLite: a function of the server's connection; PostgreSQL: a
 * sequence, which a rollback does not undo), so a test can wait for "refused, then retried"
 * instead of sleeping.
 */
export class WriteFault {
  private counted = 0;
  private readonly name = `fault_${process.pid}_${++faults}`;
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  private lifted = false;

  private constructor(
    private readonly server: TestServer,
    private readonly table: string,
  ) {}

  /** Refuses `op` on `table` (for rows matching `when`, an SQL condition on NEW/OLD). */
  static async install(server: TestServer, fence: { table: string; op: 'INSERT' | 'UPDATE' | 'DELETE'; when?: string }): Promise<WriteFault> {
    const fault = new WriteFault(server, fence.table);
    const refusal = `injected fault: ${fence.op} on ${fence.table} refused`;
    if (server.services.store.kind === 'postgres') {
      await rawSql(
        server,
        `create sequence ${fault.name}_hits;
         create function ${fault.name}() returns trigger language plpgsql as $$
           begin perform nextval('${fault.name}_hits'); raise exception '${refusal}'; end $$;
         create trigger ${fault.name} before ${fence.op} on ${fence.table} for each row
           ${fence.when ? `when (${fence.when})` : ''} execute function ${fault.name}();`,
      );
      return fault;
    }
    // The counter is a function of the server's connection; the trigger calls it for the rows it refuses.
    rawSqlite(server).function(`${fault.name}_hit`, { deterministic: false }, () => {
      fault.counted++;
      for (const w of [...fault.waiters]) if (fault.counted >= w.count) (fault.waiters.splice(fault.waiters.indexOf(w), 1), w.resolve());
      return 1;
    });
    const when = fence.when ? `(${fence.when}) AND ${fault.name}_hit()` : `${fault.name}_hit()`;
    await betweenTransactions(
      server,
      `CREATE TRIGGER ${fault.name} BEFORE ${fence.op} ON ${fence.table} FOR EACH ROW WHEN ${when}
         BEGIN SELECT RAISE(ABORT, '${refusal}'); END;`,
    );
    return fault;
  }

  /** How many writes have been refused so far. */
  async attempts(): Promise<number> {
    if (this.server.services.store.kind === 'sqlite') return this.counted;
    const [row] = await rawSql<{ n: number }>(this.server, `select case when is_called then last_value else 0 end::int as n from ${this.name}_hits`);
    return row!.n;
  }

  /** Resolves once `count` writes have been refused. */
  waitForAttempts(count: number, timeoutMs = 5000): Promise<void> {
    if (this.server.services.store.kind === 'postgres') {
      // Another connection's sequence has no event to wait on: poll it.
      return waitUntil(async () => (await this.attempts()) >= count, `${this.name}: ${count} refused writes`, timeoutMs).then(() => {});
    }
    if (this.counted >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: timed out waiting for ${count} refused writes (have ${this.counted})`)), timeoutMs);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** "The disk has room again": the writes go through from now on. */
  async lift(): Promise<void> {
    if (this.lifted) return;
    this.lifted = true;
    if (this.server.services.store.kind === 'postgres') {
      await rawSql(this.server, `drop trigger if exists ${this.name} on ${this.table}; drop function if exists ${this.name}(); drop sequence if exists ${this.name}_hits`);
      return;
    }
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
