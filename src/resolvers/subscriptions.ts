import type { Context } from '../context.js';
import { UnauthenticatedError } from '../errors.js';
import type { LogStream } from '../services/events/log-stream.js';
import type { ThreadEvent } from '../services/events/types.js';
import { builder } from '../schema/builder.js';
import { ThreadEventRef } from '../schema/refs.js';
import { passEvent, relayed } from '../subscription-events/relay.js';

/** A WebSocket whose send buffer holds more than this is not handed further events until it drains. */
const SOCKET_HIGH_WATER_BYTES = 1 << 20;

/**
 * Backpressure for graphql-ws: it writes every event it pulls to the socket, so a client that
 * stops reading would pile them up in the socket's buffer. Pulling waits instead; the stream's
 * own bounded buffer then takes over (it reads the stored log when the client is ready again).
 */
function writableOf(ctx: Context): (() => Promise<void> | undefined) | undefined {
  const socket = ctx.socket;
  if (!socket) return undefined;
  const backedUp = () => socket.readyState === socket.OPEN && socket.bufferedAmount > SOCKET_HIGH_WATER_BYTES;
  return () => {
    if (!backedUp()) return undefined;
    return (async () => {
      while (backedUp()) await new Promise((resolve) => setTimeout(resolve, 25));
    })();
  };
}

/** A revoked key ends its open subscriptions with UNAUTHENTICATED. */
function endOnRevoke(ctx: Context, stream: LogStream): LogStream {
  stream.onEnd(ctx.services.access.trackSession(ctx.keyId, () => stream.fail(new UnauthenticatedError('The API key was revoked.'))));
  return stream;
}

builder.subscriptionField('runEvents', (t) =>
  t.field({
    type: ThreadEventRef,
    description:
      'A snapshot of the run (its reply so far, then its status, both at the thread\'s current seq), then its live events; completes after the terminal RunStatusEvent.',
    args: { runId: t.arg.id({ required: true }) },
    subscribe: async (_root, { runId }, ctx) =>
      relayed(ctx, endOnRevoke(ctx, await ctx.services.events.runEvents(ctx.owner, runId, { writable: writableOf(ctx) }))),
    resolve: passEvent<ThreadEvent>,
  }),
);

builder.subscriptionField('threadEvents', (t) =>
  t.field({
    type: ThreadEventRef,
    description:
      'Events with seq > after replayed from the log, then live events (after must not exceed the thread\'s lastEventSeq). Without after: live only. Never completes by itself.',
    args: { threadId: t.arg.id({ required: true }), after: t.arg.int() },
    subscribe: async (_root, { threadId, after }, ctx) =>
      relayed(ctx, endOnRevoke(ctx, await ctx.services.events.threadEvents(ctx.owner, threadId, after ?? null, { writable: writableOf(ctx) }))),
    resolve: passEvent<ThreadEvent>,
  }),
);
