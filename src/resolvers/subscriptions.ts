import { runEventStream, threadEventStream } from '../events/subscriptions.js';
import { builder } from '../schema/builder.js';
import { ThreadEventRef } from '../schema/events.js';
import type { ThreadEvent } from '../events/types.js';
import type { Context } from '../context.js';
import type { EventQueue } from '../events/event-queue.js';
import { UnauthenticatedError } from '../errors.js';

/** A revoked key ends its open subscriptions with UNAUTHENTICATED. */
function endOnRevoke(ctx: Context, stream: EventQueue<ThreadEvent>): EventQueue<ThreadEvent> {
  stream.onEnd(ctx.access.trackSession(ctx.keyId, () => stream.fail(new UnauthenticatedError('The API key was revoked.'))));
  return stream;
}

builder.subscriptionField('runEvents', (t) =>
  t.field({
    type: ThreadEventRef,
    description:
      'A snapshot of the run (its reply so far, then its status, both at the thread\'s current seq), then its live events; completes after the terminal RunStatusEvent.',
    args: { runId: t.arg.id({ required: true }) },
    subscribe: (_root, { runId }, ctx) => endOnRevoke(ctx, runEventStream(ctx.db, ctx.events, runId, ctx.owner)),
    resolve: (event: ThreadEvent) => event,
  }),
);

builder.subscriptionField('threadEvents', (t) =>
  t.field({
    type: ThreadEventRef,
    description: 'Events with seq > after replayed from the log, then live events. Without after: live only. Never completes by itself.',
    args: { threadId: t.arg.id({ required: true }), after: t.arg.int() },
    subscribe: (_root, { threadId, after }, ctx) =>
      endOnRevoke(ctx, threadEventStream(ctx.db, ctx.events, threadId, after ?? null, ctx.owner)),
    resolve: (event: ThreadEvent) => event,
  }),
);
