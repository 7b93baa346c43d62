import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitUnknownError, StorageError } from '../src/store/errors.js';
import { createPostgresStore, type PostgresStore } from '../src/store/postgres/index.js';
import { onPostgres, removeTempDirs, tempDatabaseFile } from './helpers.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * A COMMIT the database never answered (the connection died after the work): it may have been
 * stored, so the store says CommitUnknownError (a StorageError), not a plain refusal the event
 * log would undo and store again. A COMMIT the database answered with an error rolled back.
 */
describe.skipIf(!onPostgres)('PostgreSQL: a COMMIT with no answer', () => {
  let proxy: TcpProxy;
  let store: PostgresStore;

  beforeAll(async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(process.env.TEST_POSTGRES_URL!).port || 5432) });
    const url = new URL(tempDatabaseFile());
    url.host = `127.0.0.1:${proxy.port}`;
    store = await createPostgresStore(url.toString());
  });
  afterAll(async () => {
    await store?.close().catch(() => {});
    await proxy?.close();
    removeTempDirs();
  });

  it('is CommitUnknownError; one refused with a SQLSTATE is not', async () => {
    // Any update of the thread row: the trigger below refuses it at COMMIT.
    const probeSeqs = { hw: 0, windowEnd: 0, foreignSeq: 0, writer: null, writerEpoch: 0, touchedAt: new Date() };
    // Refused at COMMIT by the server (a deferred constraint trigger): rolled back, a definite answer.
    await store.db.$client.query(`
      insert into threads (id, owner, metadata, created_at, updated_at) values ('thread_probe', 'owner_probe', '{}', now(), now());
      create function refuse_at_commit() returns trigger language plpgsql as $$ begin raise exception 'refused at commit'; end $$;
      create constraint trigger refuse_at_commit after update on threads deferrable initially deferred
        for each row execute function refuse_at_commit();`);
    const refused = await store.transaction((tx) => tx.setThreadSeqs('thread_probe', probeSeqs)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(StorageError);
    expect(refused).not.toBeInstanceOf(CommitUnknownError);
    await store.db.$client.query('drop trigger refuse_at_commit on threads');

    const lost = store.transaction(async (tx) => {
      await tx.setThreadSeqs('thread_probe', probeSeqs);
      // The connection dies after the work, before COMMIT's answer can come.
      await proxy.cut();
      return 1;
    });
    const error = await lost.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CommitUnknownError);
    expect(error).toBeInstanceOf(StorageError);
    await proxy.restore();
  });
});
