import { builder } from '../schema/builder.js';
import { RunRef } from '../schema/refs.js';

builder.queryField('run', (t) =>
  t.field({
    type: RunRef,
    nullable: true,
    description: 'A run by id (NOT_FOUND when unknown).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.runs.get(ctx.owner, id),
  }),
);

builder.relayMutationField(
  'cancelRun',
  { inputFields: (t) => ({ runId: t.id({ required: true }) }) },
  {
    description: 'Cancels a run; its partial reply is kept as INCOMPLETE. A finished run is returned unchanged.',
    resolve: async (_root, { input }, ctx) => ({ run: await ctx.services.runs.cancel(input.runId, ctx.owner) }),
  },
  { outputFields: (t) => ({ run: t.field({ type: RunRef, resolve: (p) => p.run }) }) },
);
