import type { MessageDeltaEvent, MessageEvent, RunStatusEvent, ThreadEvent } from '../services/events/types.js';
import { builder } from './builder.js';
import { MessageRef, RunRef, ThreadEventRef } from './refs.js';

const typeNames = { RUN_STATUS: 'RunStatusEvent', MESSAGE: 'MessageEvent', MESSAGE_DELTA: 'MessageDeltaEvent' } as const;

/** The GraphQL type of an event: ThreadEvent's resolveType, and the fast path's (subscription-events/). */
export function threadEventTypeName(event: unknown): string | undefined {
  const kind = (event as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' && Object.hasOwn(typeNames, kind) ? typeNames[kind as ThreadEvent['kind']] : undefined;
}

ThreadEventRef.implement({
  description: 'A change on a thread. seq is per thread and strictly increasing; replay with threadEvents(after:).',
  resolveType: (event) => typeNames[event.kind],
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    threadId: t.exposeID('threadId'),
  }),
});

builder.objectRef<RunStatusEvent>('RunStatusEvent').implement({
  description: 'A run was created or changed status. run is the run as it was at that moment.',
  interfaces: [ThreadEventRef],
  fields: (t) => ({ run: t.field({ type: RunRef, resolve: (e) => e.run }) }),
});

builder.objectRef<MessageEvent>('MessageEvent').implement({
  description: 'A message was created or completed: an authoritative snapshot that replaces its content.',
  interfaces: [ThreadEventRef],
  fields: (t) => ({ message: t.field({ type: MessageRef, resolve: (e) => e.message }) }),
});

builder.objectRef<MessageDeltaEvent>('MessageDeltaEvent').implement({
  description: 'Text appended to a streaming message.',
  interfaces: [ThreadEventRef],
  fields: (t) => ({
    runId: t.exposeID('runId'),
    messageId: t.exposeID('messageId'),
    delta: t.exposeString('delta'),
  }),
});
