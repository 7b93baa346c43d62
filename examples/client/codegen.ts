import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Types for the operations in operations/*.graphql, from the committed schema.graphql:
 * `npm run example:codegen` rewrites gql/ (committed; a test fails when it is stale).
 */
const here = new URL('.', import.meta.url).pathname;

const config: CodegenConfig = {
  schema: `${here}../../schema.graphql`,
  documents: `${here}operations/*.graphql`,
  // Imports with `.js`, as Node's ESM resolution wants them.
  emitLegacyCommonJSImports: false,
  generates: {
    [`${here}gql/`]: {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // Plain strings, no `graphql` needed at run time: send with fetch or graphql-ws as they are.
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSONObject: 'Record<string, unknown>' },
      },
    },
  },
};

export default config;
