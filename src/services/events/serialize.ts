import type { EventRow, MessageRow, RunRow } from '../../store/types.js';
import type { ThreadEvent } from './types.js';

/** Events are stored as JSON; dates travel as epoch milliseconds and come back as Dates. */

const runDates = ['createdAt', 'startedAt', 'completedAt', 'expiresAt'] as const;

export function eventPayload(event: ThreadEvent): unknown {
  switch (event.kind) {
    case 'MESSAGE_DELTA':
      return { runId: event.runId, messageId: event.messageId, delta: event.delta };
    case 'MESSAGE':
      return { message: { ...event.message, createdAt: event.message.createdAt.getTime() } };
    case 'RUN_STATUS': {
      const run: Record<string, unknown> = { ...event.run };
      for (const key of runDates) run[key] = event.run[key]?.getTime() ?? null;
      return { run };
    }
  }
}

export function eventFromRow(row: EventRow): ThreadEvent {
  const base = { seq: row.seq, threadId: row.threadId };
  const payload = row.payload as Record<string, any>;
  switch (row.type) {
    case 'MESSAGE_DELTA':
      return { kind: 'MESSAGE_DELTA', ...base, runId: payload.runId, messageId: payload.messageId, delta: payload.delta };
    case 'MESSAGE': {
      // Events stored before messages had a refusal column lack the key.
      const message = { refusal: null, ...payload.message, createdAt: new Date(payload.message.createdAt) } as MessageRow;
      return { kind: 'MESSAGE', ...base, message };
    }
    case 'RUN_STATUS': {
      const run = { ...payload.run } as Record<string, unknown>;
      for (const key of runDates) run[key] = run[key] == null ? null : new Date(run[key] as number);
      return { kind: 'RUN_STATUS', ...base, run: run as RunRow };
    }
  }
}

/** An event as one JSON text for the bus (Redis): the stored payload plus its kind, seq and thread. */
export function eventToWire(event: ThreadEvent): string {
  return JSON.stringify({ kind: event.kind, seq: event.seq, threadId: event.threadId, payload: eventPayload(event) });
}

export function eventFromWire(wire: string | { kind: ThreadEvent['kind']; seq: number; threadId: string; payload: unknown }): ThreadEvent {
  const parsed = typeof wire === 'string' ? JSON.parse(wire) : wire;
  return eventFromRow({ threadId: parsed.threadId, seq: parsed.seq, type: parsed.kind, payload: parsed.payload, messageId: null, createdAt: new Date(0) });
}
