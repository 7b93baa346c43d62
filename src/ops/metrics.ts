import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { PubSub } from '../services/events/pubsub.js';
import { isTerminalRunStatus, type ThreadEvent } from '../services/events/types.js';
import type { Store, StoreTx } from '../store/types.js';

/**
 * threadql's own Prometheus metrics, one registry per server (tests start several in one
 * process, each with its own counts). The service layer is observed at its two narrow
 * boundaries rather than edited throughout: every event this process publishes passes
 * `instrumentPubSub` (run statuses, first tokens, run ends — each run's end is also logged
 * there, one line), every transaction passes `instrumentStore` (events stored, flush batches,
 * transaction time).
 */
export interface Metrics {
  readonly registry: Registry;
  /** Publishes through `pubsub`, counting each event and following runs to their end. */
  instrumentPubSub<P extends PubSub>(pubsub: P, logger: Logger): P;
  /** The same store, with its transactions timed and the events they store counted. */
  instrumentStore<S extends Store>(store: S): S;
  /** A subscription opened over `transport`; call the result when it ends. */
  subscriptionOpened(transport: 'sse' | 'websocket'): () => void;
}

const SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metric = { registers: [registry] };
  const runs = new Counter({ ...metric, name: 'threadql_runs_total', help: 'Runs that reached each status.', labelNames: ['status'] });
  const runDuration = new Histogram({
    ...metric,
    name: 'threadql_run_duration_seconds',
    help: 'From a run starting to its end, by final status.',
    labelNames: ['status'],
    buckets: SECONDS,
  });
  const firstToken = new Histogram({
    ...metric,
    name: 'threadql_time_to_first_token_seconds',
    help: 'From a run starting to its first streamed text.',
    buckets: SECONDS,
  });
  const providerErrors = new Counter({
    ...metric,
    name: 'threadql_provider_errors_total',
    help: 'Runs that failed because of the model provider, by Run.error.code.',
    labelNames: ['code'],
  });
  const subscriptions = new Gauge({ ...metric, name: 'threadql_open_subscriptions', help: 'Open subscriptions by transport.', labelNames: ['transport'] });
  // Counted per event as plain numbers (a prom-client inc() hashes and validates its labels
  // each time, on the path of every streamed delta) and handed to the counters when scraped.
  const publishedCounts = new Map<string, number>();
  const storedCounts = new Map<string, number>();
  const published = new Counter({
    ...metric,
    name: 'threadql_events_published_total',
    help: 'Thread events published live by this process.',
    labelNames: ['type'],
    collect() {
      handOver(publishedCounts, this);
    },
  });
  const stored = new Counter({
    ...metric,
    name: 'threadql_events_stored_total',
    help: 'Thread events written to the database.',
    labelNames: ['type'],
    collect() {
      handOver(storedCounts, this);
    },
  });
  const flushBatch = new Histogram({
    ...metric,
    name: 'threadql_flush_batch_deltas',
    help: 'Streamed-text deltas stored per transaction.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
  });
  const txTime = new Histogram({
    ...metric,
    name: 'threadql_db_transaction_seconds',
    help: 'Database transaction time (waiting for the connection included).',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  for (const transport of ['sse', 'websocket']) subscriptions.set({ transport }, 0);

  return {
    registry,
    instrumentPubSub(pubsub, logger) {
      const runLog = logger.child({ component: 'runs' });
      // Runs executing here that have not streamed text yet: when they started (ms).
      const awaitingFirstToken = new Map<string, number>();
      // Runs started here and not ended: one resumes IN_PROGRESS after each round of tool calls.
      const started = new Set<string>();
      const observe = (event: ThreadEvent) => {
        publishedCounts.set(event.kind, (publishedCounts.get(event.kind) ?? 0) + 1);
        if (event.kind === 'MESSAGE_DELTA') {
          if (awaitingFirstToken.size === 0) return;
          const startedAt = awaitingFirstToken.get(event.runId);
          if (startedAt !== undefined) {
            firstToken.observe((Date.now() - startedAt) / 1000);
            awaitingFirstToken.delete(event.runId);
          }
          return;
        }
        if (event.kind !== 'RUN_STATUS') return;
        const run = event.run;
        runs.inc({ status: run.status });
        if (run.status === 'IN_PROGRESS' && run.startedAt && !started.has(run.id)) {
          started.add(run.id);
          awaitingFirstToken.set(run.id, run.startedAt.getTime());
        }
        if (!isTerminalRunStatus(run.status)) return;
        started.delete(run.id);
        awaitingFirstToken.delete(run.id);
        const durationMs = run.startedAt && run.completedAt ? run.completedAt.getTime() - run.startedAt.getTime() : null;
        if (durationMs !== null) runDuration.observe({ status: run.status }, durationMs / 1000);
        if (run.errorCode?.startsWith('PROVIDER_')) providerErrors.inc({ code: run.errorCode });
        // Ids, status and sizes only: never the content of a message.
        runLog.info(
          {
            runId: run.id,
            threadId: run.threadId,
            status: run.status,
            errorCode: run.errorCode ?? undefined,
            model: run.model,
            durationMs,
            inputTokens: run.inputTokens,
            outputTokens: run.outputTokens,
          },
          'run ended',
        );
      };
      // Only publish is observed; every other method (a Redis pub/sub has more) passes through.
      return overriding(pubsub, 'publish', (event: ThreadEvent) => {
        observe(event);
        pubsub.publish(event);
      });
    },
    instrumentStore(store) {
      const transaction: Store['transaction'] = async (work, options) => {
        const end = txTime.startTimer();
        // What the transaction stored, by type: MESSAGE_DELTA (most of them) apart.
        const tally: { deltas: number; others: Map<string, number> | null } = { deltas: 0, others: null };
        const count = (events: readonly ThreadEvent[]) => {
          for (const event of events) {
            if (event.kind === 'MESSAGE_DELTA') tally.deltas++;
            else {
              const others = (tally.others ??= new Map());
              others.set(event.kind, (others.get(event.kind) ?? 0) + 1);
            }
          }
        };
        try {
          const result = await store.transaction((tx) => work(countingTx(tx, count)), options);
          end({ outcome: 'commit' });
          // Counted once committed: a rolled-back batch is stored again later.
          const { deltas, others } = tally;
          if (deltas > 0) {
            storedCounts.set('MESSAGE_DELTA', (storedCounts.get('MESSAGE_DELTA') ?? 0) + deltas);
            flushBatch.observe(deltas);
          }
          if (others) for (const [type, n] of others) storedCounts.set(type, (storedCounts.get(type) ?? 0) + n);
          return result;
        } catch (error) {
          end({ outcome: 'rollback' });
          throw error;
        }
      };
      return overriding(store, 'transaction', transaction);
    },
    subscriptionOpened(transport) {
      subscriptions.inc({ transport });
      let open = true;
      return () => {
        if (open) subscriptions.dec({ transport });
        open = false;
      };
    },
  };
}

/** Counts kept as plain numbers, added to `counter` (a scrape is reading it): each count is handed over once. */
function handOver(counts: Map<string, number>, counter: Counter<'type'>): void {
  for (const [type, n] of counts) {
    if (n === 0) continue;
    counter.inc({ type }, n);
    counts.set(type, 0);
  }
}

/** The transaction's writes, with `insertEvents` reporting what it stored. */
function countingTx(tx: StoreTx, onInsert: (events: readonly ThreadEvent[]) => void): StoreTx {
  return overriding(tx, 'insertEvents', async (events: readonly ThreadEvent[], at: Date) => {
    await tx.insertEvents(events, at);
    onInsert(events);
  });
}

/**
 * `target` with one method replaced; the others called on `target` itself (class stores with
 * private fields work too). Each method is bound once, not at every call: the store and the
 * pub/sub are on every request's and every delta's path.
 */
function overriding<T extends object, K extends keyof T>(target: T, name: K, replacement: T[K]): T {
  const bound = new WeakMap<Function, unknown>();
  return new Proxy(target, {
    get(object, key) {
      if (key === name) return replacement;
      const value = Reflect.get(object, key);
      if (typeof value !== 'function') return value;
      let method = bound.get(value);
      if (method === undefined) bound.set(value, (method = value.bind(object)));
      return method;
    },
  });
}
