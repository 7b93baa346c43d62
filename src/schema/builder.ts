import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import type { Context } from '../context.js';
import { nodeTypeOf } from '../ids.js';
import { NotFoundError } from '../errors.js';
import type { Metadata } from '../store/types.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: { list: false; items: false };
  DefaultNodeNullability: false;
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
    JSONObject: { Input: Metadata; Output: Metadata };
  };
}>({
  plugins: [RelayPlugin],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Our ids are already typed and opaque (`thread_…`), so they are the global ids as they are.
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => ({ typename: nodeTypeOf(globalID) ?? 'Unknown', id: globalID }),
    nodesQueryOptions: false,
    // Nullable payloads: when one of several aliased mutations fails, the others' results still arrive.
    relayMutationFieldOptions: { nullable: true },
    nodeQueryOptions: {
      nullable: true,
      description: 'Any object by id (NOT_FOUND when unknown).',
      resolve: async (_root, { id }, _ctx, _info, resolveNode) => {
        const node = id.typename === 'Unknown' ? null : await resolveNode(id);
        if (!node) throw new NotFoundError('object', id.id);
        return node;
      },
    },
    edgesFieldOptions: { nullable: { list: false, items: false } },
    nodeFieldOptions: { nullable: false },
  },
});
