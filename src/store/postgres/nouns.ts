import { and, asc, desc, eq, getTableName, inArray, isNotNull, lt, ne, sql, type SQLWrapper } from 'drizzle-orm';
import { eventFromRow } from '../../services/events/serialize.js';
import type { AssistantStore, EventStore, KeyStore, MessageStore, RunStore, ThreadStore, Usage } from '../types.js';
import { guarded } from './driver-errors.js';
import { page, preparedOn, scopedPage } from './pages.js';
import type { Queries } from './queries.js';
import { apiKeys, assistants, events, messages, runs, threads } from './tables.js';

/**
 * The PostgreSQL store's operations by noun, outside transactions: each is one statement on a
 * pooled connection (so reads run concurrently with open transactions, which SQLite cannot do),
 * with the driver's errors translated.
 */

/**
 * PostgreSQL text cannot hold NUL (U+0000): a query with one fails instead of matching nothing.
 * Nothing stored holds one (validation refuses it), so a lookup by such a value finds nothing.
 */
const storable = (value: string) => !value.includes('\u0000');

type Table = typeof assistants | typeof threads | typeof messages | typeof runs;

function finders<T extends Table>(db: Queries, table: T) {
  type Row = T['$inferSelect'];
  // On most requests (the thread of thread(id), a run, a message): named prepared statements.
  const name = getTableName(table);
  const byId = () =>
    preparedOn(db, `tql_${name}_by_id`, (statement) =>
      db.select().from(table as typeof threads).where(eq(table.id, sql.placeholder('id'))).limit(1).prepare(statement),
    );
  const byIdAndOwner = () =>
    preparedOn(db, `tql_${name}_by_id_owner`, (statement) =>
      db
        .select()
        .from(table as typeof threads)
        .where(and(eq(table.id, sql.placeholder('id')), eq(table.owner, sql.placeholder('owner'))))
        .limit(1)
        .prepare(statement),
    );
  return {
    find: (rowId: string, rowOwner?: string) =>
      guarded(async () => {
        if (!storable(rowId) || (rowOwner !== undefined && !storable(rowOwner))) return undefined;
        const [row] = rowOwner === undefined ? await byId().execute({ id: rowId }) : await byIdAndOwner().execute({ id: rowId, owner: rowOwner });
        return row as Row | undefined;
      }),
    findMany: (ids: readonly string[]) =>
      guarded(async () => {
        const wanted = ids.filter(storable);
        return wanted.length === 0 ? [] : ((await db.select().from(table as typeof threads).where(inArray(table.id, wanted))) as Row[]);
      }),
  };
}

const first = <T>(rows: T[]): T | undefined => rows[0];

export function assistantStore(db: Queries): AssistantStore {
  return {
    ...finders(db, assistants),
    insert: (row) => guarded(async () => first(await db.insert(assistants).values(row).returning())!),
    update: (rowId, changes, updatedAt) =>
      guarded(async () => first(await db.update(assistants).set({ ...changes, updatedAt }).where(eq(assistants.id, rowId)).returning())),
    delete: (rowId) => guarded(async () => void (await db.delete(assistants).where(eq(assistants.id, rowId)))),
    page: (o, w) => guarded(() => scopedPage(db, assistants, assistants.owner, o, w, true)),
  };
}

export function threadStore(db: Queries): ThreadStore {
  return {
    ...finders(db, threads),
    page: (filter, w) =>
      guarded(async () => {
        if (filter.assistantId != null && !storable(filter.assistantId)) return [];
        if (Object.entries(filter.metadata ?? {}).some(([k, v]) => !storable(k) || !storable(v))) return [];
        const conditions = [eq(threads.owner, filter.owner)];
        if (filter.assistantId != null) conditions.push(eq(threads.assistantId, filter.assistantId));
        // Every key with its value (a `json` column: containment needs jsonb).
        if (filter.metadata && Object.keys(filter.metadata).length > 0) {
          conditions.push(sql`${threads.metadata}::jsonb @> ${JSON.stringify(filter.metadata)}::jsonb`);
        }
        return page(db, threads, and(...conditions), w, true);
      }),
    update: (rowId, changes, updatedAt) =>
      guarded(async () => first(await db.update(threads).set({ ...changes, updatedAt }).where(eq(threads.id, rowId)).returning())),
    delete: (rowId) => guarded(async () => void (await db.delete(threads).where(eq(threads.id, rowId)))),
    usage: (ids) =>
      guarded(async () => {
        const usage = new Map<string, Usage>();
        if (ids.length === 0) return usage;
        // sum() of integers is a bigint, which node-postgres reads as a string.
        const total = (column: SQLWrapper) => sql<number>`coalesce(sum(${column}), 0)`.mapWith(Number);
        const rows = await db
          .select({ threadId: runs.threadId, inputTokens: total(runs.inputTokens), outputTokens: total(runs.outputTokens), totalTokens: total(runs.totalTokens) })
          .from(runs)
          .where(inArray(runs.threadId, [...ids]))
          .groupBy(runs.threadId);
        for (const { threadId, ...totals } of rows) usage.set(threadId, totals);
        return usage;
      }),
  };
}

export function messageStore(db: Queries): MessageStore {
  const byRun = (runIds: readonly string[], role: 'USER' | 'ASSISTANT') =>
    guarded(async () => (runIds.length === 0 ? [] : db.select().from(messages).where(and(inArray(messages.runId, [...runIds]), eq(messages.role, role)))));
  return {
    ...finders(db, messages),
    page: (threadId, w) => guarded(() => scopedPage(db, messages, messages.threadId, threadId, w)),
    byIdempotencyKey: (threadId, key) =>
      guarded(async () => !storable(threadId) || !storable(key) ? undefined : first(await db.select().from(messages).where(and(eq(messages.threadId, threadId), eq(messages.idempotencyKey, key))))),
    newestFirst: (threadId, beforePos, limit) =>
      guarded(() =>
        db
          .select()
          .from(messages)
          .where(and(eq(messages.threadId, threadId), beforePos === null ? undefined : lt(messages.pos, beforePos)))
          .orderBy(desc(messages.pos))
          .limit(limit),
      ),
    repliesOf: (runIds) => byRun(runIds, 'ASSISTANT'),
    startersOf: (runIds) => byRun(runIds, 'USER'),
    updateMetadata: (rowId, metadata) =>
      guarded(async () => (storable(rowId) ? first(await db.update(messages).set({ metadata }).where(eq(messages.id, rowId)).returning()) : undefined)),
    delete: (rowId) => guarded(async () => void (storable(rowId) && (await db.delete(messages).where(eq(messages.id, rowId))))),
  };
}

export function runStore(db: Queries): RunStore {
  return {
    ...finders(db, runs),
    page: (threadId, w) => guarded(() => scopedPage(db, runs, runs.threadId, threadId, w)),
    active: (threadId) =>
      guarded(() =>
        db
          .select()
          .from(runs)
          .where(and(eq(runs.threadId, threadId), inArray(runs.status, ['QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION'])))
          .orderBy(sql`${runs.status} <> 'QUEUED' desc`, asc(runs.pos)),
      ),
    nextQueued: (threadId) =>
      guarded(async () =>
        first(await db.select().from(runs).where(and(eq(runs.threadId, threadId), eq(runs.status, 'QUEUED'))).orderBy(asc(runs.pos)).limit(1)),
      ),
    // One statement, so the run, its reply and the thread's seq are read at one moment.
    snapshot: (runId) =>
      guarded(async () => {
        const row = first(
          await db
            .select({ run: runs, reply: messages, lastEventSeq: threads.lastEventSeq })
            .from(runs)
            .innerJoin(threads, eq(threads.id, runs.threadId))
            .leftJoin(messages, eq(messages.id, runs.replyMessageId))
            .where(eq(runs.id, runId)),
        );
        return row && { run: row.run, reply: row.reply ?? undefined, lastEventSeq: row.lastEventSeq };
      }),
    withStatus: (status) => guarded(() => db.select().from(runs).where(eq(runs.status, status)).orderBy(asc(runs.pos))),
    byIdempotencyKey: (rowOwner, key) =>
      guarded(async () =>
        !storable(rowOwner) || !storable(key) ? undefined : first(await db.select().from(runs).where(and(eq(runs.owner, rowOwner), eq(runs.idempotencyKey, key))).limit(1)),
      ),
    updateMetadata: (rowId, metadata) =>
      guarded(async () => (storable(rowId) ? first(await db.update(runs).set({ metadata }).where(eq(runs.id, rowId)).returning()) : undefined)),
    requestCancel: (runId, at) =>
      guarded(async () => void (await db.update(runs).set({ cancelRequestedAt: at }).where(and(eq(runs.id, runId), inArray(runs.status, ['QUEUED', 'IN_PROGRESS', 'REQUIRES_ACTION']))))),
    waitingPast: (at, limit) =>
      guarded(() => db.select().from(runs).where(and(eq(runs.status, 'REQUIRES_ACTION'), lt(runs.expiresAt, at))).orderBy(asc(runs.pos)).limit(limit)),
  };
}

export function eventStore(db: Queries): EventStore {
  return {
    readAfter: (threadId, after, limit) =>
      guarded(async () => {
        const rows = await db
          .select()
          .from(events)
          .where(
            and(
              eq(events.threadId, threadId),
              sql`${events.seq} > ${after}`,
              // Only final seqs: a foreign write above a writer's window waits for the writer's next store.
              sql`${events.seq} <= (select t.last_event_seq from ${threads} t where t.id = ${threadId})`,
            ),
          )
          .orderBy(asc(events.seq))
          .limit(limit);
        return rows.map(eventFromRow);
      }),
    compactDeltas: (before, batch) =>
      guarded(async () => {
        const finished = db.select({ id: messages.id }).from(messages).where(ne(messages.status, 'IN_PROGRESS'));
        const victims = db
          .select({ threadId: events.threadId, seq: events.seq })
          .from(events)
          .where(and(eq(events.type, 'MESSAGE_DELTA'), lt(events.createdAt, before), inArray(events.messageId, finished)))
          .limit(batch);
        const deleted = await db.delete(events).where(sql`(${events.threadId}, ${events.seq}) in ${victims}`);
        return deleted.rowCount ?? 0;
      }),
  };
}

export function keyStore(db: Queries): KeyStore {
  return {
    insert: (row) => guarded(async () => first(await db.insert(apiKeys).values(row).returning())!),
    list: () => guarded(() => db.select().from(apiKeys).orderBy(desc(apiKeys.pos))),
    find: (keyId) =>
      guarded(async () =>
        storable(keyId)
          ? first(await preparedOn(db, 'tql_api_keys_by_id', (name) => db.select().from(apiKeys).where(eq(apiKeys.id, sql.placeholder('id'))).prepare(name)).execute({ id: keyId }))
          : undefined,
      ),
    // Asked on every request with a key (and, in open mode, `any` on every request): prepared.
    byHash: (hash) =>
      guarded(async () =>
        first(await preparedOn(db, 'tql_api_keys_by_hash', (name) => db.select().from(apiKeys).where(eq(apiKeys.hash, sql.placeholder('hash'))).prepare(name)).execute({ hash })),
      ),
    revoke: (keyId, at) => guarded(async () => void (await db.update(apiKeys).set({ revokedAt: at }).where(and(eq(apiKeys.id, keyId), sql`${apiKeys.revokedAt} is null`)))),
    any: () => guarded(async () => (await preparedOn(db, 'tql_api_keys_any', (name) => db.select({ id: apiKeys.id }).from(apiKeys).limit(1).prepare(name)).execute({})).length > 0),
    revokedAmong: (ids) =>
      guarded(async () =>
        ids.length === 0 ? [] : (await db.select({ id: apiKeys.id }).from(apiKeys).where(and(inArray(apiKeys.id, [...ids]), isNotNull(apiKeys.revokedAt)))).map((r) => r.id),
      ),
  };
}
