import { expect } from 'vitest';
import type { EventData } from '../helpers.js';
import type { Cluster } from './harness.js';

/**
 * The contract's invariants for what subscribers on any instance received, checked against the
 * cluster's database (scale-out-notes §5.1, 1–4).
 */

export interface StoredEvent {
  seq: number;
  type: string;
  payload: any;
}

export async function storedEvents(cluster: Cluster, threadId: string, after = 0): Promise<StoredEvent[]> {
  const rows = await cluster.sql(`select seq, type, payload::text from events where thread_id = '${threadId}' and seq > ${after} order by seq`);
  return rows.map(([seq, type, payload]) => ({ seq: Number(seq), type: type!, payload: JSON.parse(payload!) }));
}

export async function storedContents(cluster: Cluster, threadId: string): Promise<Map<string, string>> {
  const rows = await cluster.sql(`select id, content from messages where thread_id = '${threadId}' order by pos`);
  return new Map(rows.map(([id, content]) => [id!, content ?? '']));
}

const kindOf: Record<EventData['__typename'], string> = { RunStatusEvent: 'RUN_STATUS', MessageEvent: 'MESSAGE', MessageDeltaEvent: 'MESSAGE_DELTA' };

/** 1: seqs strictly increasing, so no duplicate. */
export function expectIncreasing(events: EventData[], who: string): void {
  const seqs = events.map((e) => e.seq);
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]! <= seqs[i - 1]!) throw new Error(`${who}: seq ${seqs[i]} after ${seqs[i - 1]} (at ${i} of [${seqs.join(',')}])`);
  }
}

/**
 * 2 and 3: what the subscriber got (after `after`, through the last seq it got) is the stored
 * log, event for event: same seqs, kinds and payloads.
 */
export function expectSameAsStored(events: EventData[], stored: StoredEvent[], who: string): void {
  expectIncreasing(events, who);
  const last = events.at(-1)?.seq ?? 0;
  const expected = stored.filter((s) => s.seq <= last);
  expect(
    events.map((e) => `${e.seq}:${kindOf[e.__typename]}`),
    `${who}: delivered == stored`,
  ).toEqual(expected.map((s) => `${s.seq}:${s.type}`));
  events.forEach((e, i) => {
    const s = expected[i]!;
    if (e.__typename === 'MessageDeltaEvent') expect(e.delta, `${who}: delta ${e.seq}`).toBe(s.payload.delta);
    if (e.__typename === 'MessageEvent') expect(e.message!.content, `${who}: message ${e.seq}`).toBe(s.payload.message.content);
    if (e.__typename === 'RunStatusEvent') expect(e.run!.status, `${who}: status ${e.seq}`).toBe(s.payload.run.status);
  });
}

/** 4: applying what was received gives the stored contents of the messages it touched. */
export function expectContents(applied: Map<string, string>, stored: Map<string, string>, who: string): void {
  for (const [id, content] of applied) expect(content, `${who}: content of ${id}`).toBe(stored.get(id));
}
