import { runEventStream, threadEventStream } from '../events/subscriptions.js';
import { builder } from '../schema/builder.js';
import { ThreadEventRef } from '../schema/events.js';
import type { ThreadEvent } from '../events/types.js';

builder.subscriptionField('runEvents', (t) =>
  t.field({
    type: ThreadEventRef,
    description:
      'A snapshot of the run (its reply so far, then its status, both at the thread\'s current seq), then its live events; completes after the terminal RunStatusEvent.',
    args: { runId: t.arg.id({ required: true }) },
    subscribe: (_root, { runId }, ctx) => runEventStream(ctx.db, ctx.events, runId),
    resolve: (event: ThreadEvent) => event,
  }),
);

builder.subscriptionField('threadEvents', (t) =>
  t.field({
    type: ThreadEventRef,
    description: 'Events with seq > after replayed from the log, then live events. Without after: live only. Never completes by itself.',
    args: { threadId: t.arg.id({ required: true }), after: t.arg.int() },
    subscribe: (_root, { threadId, after }, ctx) => threadEventStream(ctx.db, ctx.events, threadId, after ?? null),
    resolve: (event: ThreadEvent) => event,
  }),
);
