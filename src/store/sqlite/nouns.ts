import { and, asc, desc, eq, inArray, isNotNull, lt, ne, sql, type SQLWrapper } from 'drizzle-orm';
import { eventFromRow } from '../../services/events/serialize.js';
import type { AssistantStore, EventStore, KeyStore, LeaseStore, MessageStore, RunStore, ThreadStore, Usage } from '../types.js';
import type { Db } from './client.js';
import { filteredPage, scopedPage } from './pages.js';
import { prepared } from './prepared.js';
import { rowReader } from './rows.js';
import { apiKeys, assistants, events, messages, runs, threads } from './tables.js';

/**
 * The SQLite store's operations by noun, outside transactions. Each is a synchronous driver
 * call; `run` (from index.ts) waits for an open transaction and translates driver errors.
 */
export type Runner = <T>(call: () => T) => Promise<T>;

/**
 * A list of ids as one parameter (a JSON array): one prepared statement serves every length,
 * where `in (?, ?, …)` would build and prepare a new query for each call.
 */
const idList = (column: SQLWrapper) => sql`${column} in (select value from json_each(${sql.placeholder('ids')}))`;

type Table = typeof assistants | typeof threads | typeof messages | typeof runs;

function finders<T extends Table>(db: Db, table: T, name: string) {
  type Row = T['$inferSelect'];
  // On most requests (the thread of thread(id), a run, a message): raw statements, decoded by rows.ts.
  const reader = rowReader(table);
  const lookup = (key: string, where: string) =>
    prepared(db, `${name}.raw.${key}`, () => db.$client.prepare(`select ${reader.columns} from ${reader.table} where ${where}`).raw());
  return {
    find(rowId: string, rowOwner?: string): Row | undefined {
      const values = (
        rowOwner === undefined
          ? lookup('byId', `"${table.id.name}" = ?`).get(rowId)
          : lookup('byIdAndOwner', `"${table.id.name}" = ? and "${table.owner.name}" = ?`).get(rowId, rowOwner)
      ) as unknown[] | undefined;
      return values === undefined ? undefined : reader.read(values);
    },
    findMany(ids: readonly string[]): Row[] {
      if (ids.length === 0) return [];
      if (ids.length === 1) return [this.find(ids[0]!)].filter((r): r is Row => r !== undefined);
      // The ids as one JSON parameter, as in idList above.
      const rows = lookup('byIds', `"${table.id.name}" in (select value from json_each(?))`).all(JSON.stringify(ids)) as unknown[][];
      return rows.map((values) => reader.read(values));
    },
  };
}

export function assistantStore(db: Db, run: Runner): AssistantStore {
  const f = finders(db, assistants, 'assistant');
  return {
    insert: (row) => run(() => db.insert(assistants).values(row).returning().get()),
    update: (rowId, changes, updatedAt) =>
      run(() => db.update(assistants).set({ ...changes, updatedAt }).where(eq(assistants.id, rowId)).returning().get()),
    delete: (rowId) => run(() => void db.delete(assistants).where(eq(assistants.id, rowId)).run()),
    find: (rowId, rowOwner) => run(() => f.find(rowId, rowOwner)),
    findMany: (ids) => run(() => f.findMany(ids)),
    page: (o, w) => run(() => scopedPage(db, assistants, { column: assistants.owner, value: o }, w, true)),
  };
}

export function threadStore(db: Db, run: Runner): ThreadStore {
  const f = finders(db, threads, 'thread');
  return {
    find: (rowId, rowOwner) => run(() => f.find(rowId, rowOwner)),
    findMany: (ids) => run(() => f.findMany(ids)),
    page: (filter, w) =>
      run(() => {
        if (filter.assistantId == null && !filter.metadata) return scopedPage(db, threads, { column: threads.owner, value: filter.owner }, w, true);
        const conditions = [eq(threads.owner, filter.owner)];
        if (filter.assistantId != null) conditions.push(eq(threads.assistantId, filter.assistantId));
        for (const [key, value] of Object.entries(filter.metadata ?? {})) {
          conditions.push(sql`exists (select 1 from json_each(${threads.metadata}) where key = ${key} and value = ${value})`);
        }
        return filteredPage(db, threads, and(...conditions), w, true);
      }),
    update: (rowId, changes, updatedAt) =>
      run(() => db.update(threads).set({ ...changes, updatedAt }).where(eq(threads.id, rowId)).returning().get()),
    delete: (rowId) => run(() => void db.delete(threads).where(eq(threads.id, rowId)).run()),
    usage: (ids) =>
      run(() => {
        const rows = db
          .select({
            threadId: runs.threadId,
            inputTokens: sql<number>`coalesce(sum(${runs.inputTokens}), 0)`,
            outputTokens: sql<number>`coalesce(sum(${runs.outputTokens}), 0)`,
            totalTokens: sql<number>`coalesce(sum(${runs.totalTokens}), 0)`,
          })
          .from(runs)
          .where(inArray(runs.threadId, [...ids]))
          .groupBy(runs.threadId)
          .all();
        const usage = new Map<string, Usage>();
        for (const { threadId, ...totals } of rows) usage.set(threadId, totals);
        return usage;
      }),
  };
}

export function messageStore(db: Db, run: Runner): MessageStore {
  const f = finders(db, messages, 'message');
  return {
    find: (rowId, rowOwner) => run(() => f.find(rowId, rowOwner)),
    findMany: (ids) => run(() => f.findMany(ids)),
    page: (threadId, w) => run(() => scopedPage(db, messages, { column: messages.threadId, value: threadId }, w)),
    byIdempotencyKey: (threadId, key) =>
      run(() => {
        const q = prepared(db, 'messages.byKey', () =>
          db
            .select()
            .from(messages)
            .where(and(eq(messages.threadId, sql.placeholder('threadId')), eq(messages.idempotencyKey, sql.placeholder('key'))))
            .prepare(),
        );
        return q.get({ threadId, key });
      }),
    newestFirst: (threadId, beforePos, limit) =>
      run(() => {
        const q = prepared(db, 'messages.newestFirst', () =>
          db
            .select()
            .from(messages)
            .where(and(eq(messages.threadId, sql.placeholder('threadId')), lt(messages.pos, sql.placeholder('before'))))
            .orderBy(desc(messages.pos))
            .limit(sql.placeholder('limit'))
            .prepare(),
        );
        return q.all({ threadId, before: beforePos ?? Number.MAX_SAFE_INTEGER, limit });
      }),
    repliesOf: (runIds) => run(() => byRun(db, runIds, 'ASSISTANT')),
    startersOf: (runIds) => run(() => byRun(db, runIds, 'USER')),
    updateMetadata: (rowId, metadata) => run(() => db.update(messages).set({ metadata }).where(eq(messages.id, rowId)).returning().get()),
    delete: (rowId) => run(() => void db.delete(messages).where(eq(messages.id, rowId)).run()),
  };
}

function byRun(db: Db, runIds: readonly string[], role: 'USER' | 'ASSISTANT') {
  if (runIds.length === 0) return [];
  if (runIds.length === 1) {
    // Every run reads its own user message this way: prepared.
    const q = prepared(db, `messages.byRun:${role}`, () =>
      db.select().from(messages).where(and(eq(messages.runId, sql.placeholder('runId')), eq(messages.role, role))).prepare(),
    );
    return q.all({ runId: runIds[0]! });
  }
  // Every run's history reads its earlier runs' replies this way, a page at a time.
  const q = prepared(db, `messages.byRuns:${role}`, () => db.select().from(messages).where(and(idList(messages.runId), eq(messages.role, role))).prepare());
  return q.all({ ids: JSON.stringify(runIds) });
}

export function runStore(db: Db, run: Runner): RunStore {
  const f = finders(db, runs, 'run');
  const runReader = rowReader(runs);
  const findMessage = finders(db, messages, 'message');
  const findThread = finders(db, threads, 'thread');
  return {
    find: (rowId, rowOwner) => run(() => f.find(rowId, rowOwner)),
    findMany: (ids) => run(() => f.findMany(ids)),
    page: (threadId, w) => run(() => scopedPage(db, runs, { column: runs.threadId, value: threadId }, w)),
    active: (threadId) =>
      run(() => {
        const q = prepared(db, 'runs.active', () =>
          db
            .select()
            .from(runs)
            .where(and(eq(runs.threadId, sql.placeholder('threadId')), inArray(runs.status, ['QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION'])))
            .orderBy(sql`${runs.status} <> 'QUEUED' desc`, asc(runs.pos))
            .prepare(),
        );
        return q.all({ threadId });
      }),
    // After every run's end (is another one waiting?): raw, its status a literal. Drizzle's
    // version binds 'QUEUED' and the limit as parameters, which SQLite ran ten times slower.
    nextQueued: (threadId) =>
      run(() => {
        const q = prepared(db, 'runs.raw.nextQueued', () =>
          db.$client.prepare(`select ${runReader.columns} from ${runReader.table} where "thread_id" = ? and "status" = 'QUEUED' order by "pos" limit 1`).raw(),
        );
        const values = q.get(threadId) as unknown[] | undefined;
        return values === undefined ? undefined : runReader.read(values);
      }),
    snapshot: (runId) =>
      run(() => {
        const row = f.find(runId);
        if (!row) return undefined;
        const reply = row.replyMessageId ? findMessage.find(row.replyMessageId) : undefined;
        const thread = findThread.find(row.threadId);
        return { run: row, reply, lastEventSeq: thread?.lastEventSeq ?? 0 };
      }),
    byIdempotencyKey: (rowOwner, key) =>
      run(() => db.select().from(runs).where(and(eq(runs.owner, rowOwner), eq(runs.idempotencyKey, key))).get()),
    updateMetadata: (rowId, metadata) => run(() => db.update(runs).set({ metadata }).where(eq(runs.id, rowId)).returning().get()),
    withStatus: (status) => run(() => db.select().from(runs).where(eq(runs.status, status)).orderBy(asc(runs.pos)).all()),
    requestCancel: (runId, at) =>
      run(() => void db.update(runs).set({ cancelRequestedAt: at }).where(and(eq(runs.id, runId), inArray(runs.status, ['QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION']))).run()),
    waitingPast: (at, limit) =>
      run(() => db.select().from(runs).where(and(eq(runs.status, 'REQUIRES_ACTION'), lt(runs.expiresAt, at))).orderBy(asc(runs.pos)).limit(limit).all()),
  };
}

export function leaseStore(db: Db, run: Runner): LeaseStore {
  return {
    renew: (writer, threadIds, ttlMs) =>
      run(() => {
        if (threadIds.length === 0) return { held: [], cancelRequested: [] };
        const held = db
          .update(threads)
          .set({ leaseUntil: new Date(Date.now() + ttlMs) })
          .where(and(eq(threads.writer, writer), inArray(threads.id, [...threadIds])))
          .returning({ threadId: threads.id, epoch: threads.writerEpoch })
          .all();
        const cancelRequested = db
          .select({ id: runs.id })
          .from(runs)
          .where(and(inArray(runs.threadId, held.map((h) => h.threadId)), eq(runs.status, 'IN_PROGRESS'), isNotNull(runs.cancelRequestedAt)))
          .all()
          .map((r) => r.id);
        return { held, cancelRequested };
      }),
    expired: (limit) =>
      run(() =>
        db
          .select({ id: threads.id })
          .from(threads)
          .where(and(isNotNull(threads.writer), lt(threads.leaseUntil, new Date())))
          .limit(limit)
          .all()
          .map((t) => t.id),
      ),
    heldBy: (writer) => run(() => db.select({ id: threads.id }).from(threads).where(eq(threads.writer, writer)).all().map((t) => t.id)),
    idleWithQueued: (limit) =>
      run(() =>
        db
          .select({ id: threads.id })
          .from(threads)
          .where(
            and(
              sql`${threads.writer} is null`,
              sql`exists (select 1 from runs r where r.thread_id = ${threads.id} and r.status = 'QUEUED')`,
              sql`not exists (select 1 from runs r where r.thread_id = ${threads.id} and r.status = 'REQUIRES_ACTION')`,
            ),
          )
          .orderBy(asc(threads.pos))
          .limit(limit)
          .all()
          .map((t) => t.id),
      ),
  };
}

export function eventStore(db: Db, run: Runner): EventStore {
  return {
    readAfter: (threadId, after, limit) =>
      run(() => {
        const q = prepared(db, 'events.page', () =>
          db
            .select()
            .from(events)
            .where(
              and(
                eq(events.threadId, sql.placeholder('threadId')),
                sql`${events.seq} > ${sql.placeholder('after')}`,
                // Only final seqs: a foreign write above a writer's window waits for the writer's next store.
                sql`${events.seq} <= (select t.last_event_seq from threads t where t.id = ${events.threadId})`,
              ),
            )
            .orderBy(asc(events.seq))
            .limit(sql.placeholder('limit'))
            .prepare(),
        );
        return q.all({ threadId, after, limit }).map(eventFromRow);
      }),
    compactDeltas: (before, batch) =>
      run(() => {
        const finished = db.select({ id: messages.id }).from(messages).where(ne(messages.status, 'IN_PROGRESS'));
        const victims = db
          .select({ rowid: sql<number>`rowid` })
          .from(events)
          .where(and(eq(events.type, 'MESSAGE_DELTA'), lt(events.createdAt, before), inArray(events.messageId, finished)))
          .limit(batch);
        return db.delete(events).where(sql`rowid in ${victims}`).run().changes;
      }),
  };
}

export function keyStore(db: Db, run: Runner): KeyStore {
  return {
    insert: (row) => run(() => db.insert(apiKeys).values(row).returning().get()),
    list: () => run(() => db.select().from(apiKeys).orderBy(desc(apiKeys.pos)).all()),
    find: (keyId) => run(() => prepared(db, 'apiKeys.byId', () => db.select().from(apiKeys).where(eq(apiKeys.id, sql.placeholder('id'))).prepare()).get({ id: keyId })),
    byHash: (hash) =>
      run(() => {
        const q = prepared(db, 'apiKeys.byHash', () => db.select().from(apiKeys).where(eq(apiKeys.hash, sql.placeholder('hash'))).prepare());
        return q.get({ hash });
      }),
    revoke: (keyId, at) => run(() => void db.update(apiKeys).set({ revokedAt: at }).where(and(eq(apiKeys.id, keyId), sql`${apiKeys.revokedAt} is null`)).run()),
    // Asked on every request until the first key exists (the CLI may create one at any time): prepared.
    any: () => run(() => prepared(db, 'apiKeys.any.raw', () => db.$client.prepare('select 1 from api_keys limit 1').pluck()).get() !== undefined),
    revokedAmong: (ids) =>
      run(() =>
        ids.length === 0
          ? []
          : db
              .select({ id: apiKeys.id })
              .from(apiKeys)
              .where(and(inArray(apiKeys.id, [...ids]), isNotNull(apiKeys.revokedAt)))
              .all()
              .map((r) => r.id),
      ),
  };
}
