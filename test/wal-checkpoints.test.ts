import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/store/sqlite/index.js';
import { onPostgres } from './helpers.js';

/**
 * SQLite checkpoints its WAL from a worker thread (src/store/sqlite/checkpoints.ts), never
 * inside a commit: what is committed reaches the database file all the same, and survives a
 * reopen; the main connection's automatic checkpoint is off while the worker runs.
 */
describe.skipIf(onPostgres)('WAL checkpoints off the commit path (SQLite)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('commits never checkpoint; the worker copies them into the database file; a reopen reads them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'threadql-wal-'));
    dirs.push(dir);
    const file = join(dir, 'wal.db');
    const store = createSqliteStore(file);
    const sqlite = store.db.$client;
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    sqlite.exec('create table filler (id integer primary key, body text not null)');
    const before = statSync(file).size;
    const insert = sqlite.prepare('insert into filler (body) values (?)');
    // ~4 MB in 200 commits: past SQLite's default autocheckpoint (1,000 pages) several times over.
    for (let i = 0; i < 200; i++) await store.transaction(async () => void insert.run('x'.repeat(20_000)));
    expect(statSync(file).size).toBe(before); // nothing was checkpointed by the commits themselves
    const deadline = Date.now() + 5000;
    while (statSync(file).size < before + 4_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(statSync(file).size).toBeGreaterThanOrEqual(before + 4_000_000);
    await store.close();
    const reopened = createSqliteStore(file);
    expect(reopened.db.$client.prepare('select count(*) as n from filler').get()).toEqual({ n: 200 });
    await reopened.close();
  });

  it('a WAL past its cap under back-to-back commits restarts: the store waits while the worker checkpoints it whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'threadql-wal-'));
    dirs.push(dir);
    const file = join(dir, 'busy.db');
    const store = createSqliteStore(file);
    const sqlite = store.db.$client;
    sqlite.exec('create table filler (id integer primary key, body text not null)');
    const insert = sqlite.prepare('insert into filler (body) values (?)');
    const started = Date.now();
    let pages = 0;
    // Three writers, each transaction open across a turn of the event loop (as a commit awaiting
    // its work is): some transaction always writes, so the WAL never restarts by itself.
    const writer = async () => {
      while (Date.now() - started < 2500) {
        await store.transaction(async () => {
          insert.run('x'.repeat(40_000));
          await new Promise((resolve) => setImmediate(resolve));
        });
        pages += 10;
      }
    };
    await Promise.all([writer(), writer(), writer()]);
    // { busy, log, checkpointed }: the WAL's frames now. Never restarted, it would hold every page written.
    const { log } = (sqlite.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!;
    expect(pages).toBeGreaterThan(10_000);
    expect(log).toBeLessThan(pages / 2);
    await store.close();
  });

  it('an in-memory database has no WAL and no worker', async () => {
    const store = createSqliteStore(':memory:');
    expect(store.db.$client.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await store.close();
  });
});
