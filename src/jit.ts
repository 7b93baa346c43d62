import { GraphQLError, getOperationAST, getVariableValues, visit, type ASTNode, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * Queries run on graphql-jit (compiled once per document) instead of the graphql-tools
 * executor: most of what a page of messages costs to execute is the executor's generic walk.
 * Only where the answers are known to be the same — test/jit.test.ts runs both on the same
 * operations, errors included:
 *  - queries (mutations and subscriptions keep the standard executor: their incremental and
 *    streamed results, and the order their fields run in, are that executor's);
 *  - without @defer or @stream (graphql-jit has no incremental delivery);
 *  - whose variables coerce: a refusal of the variables is the standard executor's own answer
 *    (its message and HTTP 400), so such a request never reaches the compiled query.
 */
export function useJitQueries(): Plugin {
  // Per document and operation name: its compiled query, or null where the standard executor answers.
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();
  const compiledFor = (schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): CompiledQuery | null => {
    const name = operationName ?? '';
    let byName = compiled.get(document);
    if (!byName) compiled.set(document, (byName = new Map()));
    let query = byName.get(name);
    if (query === undefined) {
      const operation = getOperationAST(document, operationName || undefined);
      query = null;
      if (operation?.operation === 'query' && !usesIncrementalDelivery(document)) {
        // A document graphql-jit cannot compile is left to the standard executor.
        const result = compileQuery(schema, document, operationName || undefined);
        if (isCompiledQuery(result)) query = result;
      }
      // Callers choose names: a few per document are kept, the rest decided each time.
      if (byName.size < 16) byName.set(name, query);
    }
    return query;
  };
  return {
    onExecute({ args, setExecuteFn }) {
      const query = compiledFor(args.schema, args.document, args.operationName);
      if (!query) return;
      const operation = getOperationAST(args.document, args.operationName || undefined)!;
      if (operation.variableDefinitions?.length && !variablesCoerce(args.schema, operation.variableDefinitions, args.variableValues)) return;
      setExecuteFn((execution) => query.query(execution.rootValue, execution.contextValue, execution.variableValues));
      return {
        onExecuteDone({ result, setResult }) {
          if (!isAsyncIterable(result) && result.errors?.length) setResult(asStandardResult(result, args.document));
        },
      };
    },
  };
}

/**
 * graphql-jit's errors carry `locations` but no AST nodes, so an error rebuilt from its nodes
 * (the masker keeps codes that way) would lose them; and its results put `data` first. The
 * standard executor's shape: graphql-js errors with their field nodes, `errors` first.
 */
function asStandardResult(result: ExecutionResult, document: DocumentNode): ExecutionResult {
  const fields = fieldsByLocation(document);
  const errors = result.errors!.map((error) => {
    const nodes = error.locations?.map((l) => fields.get(`${l.line}:${l.column}`)).filter((n): n is ASTNode => n !== undefined);
    return new GraphQLError(error.message, {
      nodes: nodes?.length ? nodes : undefined,
      path: error.path,
      originalError: (error.originalError ?? undefined) as Error | undefined,
      extensions: error.extensions,
    });
  });
  const { data, extensions, ...rest } = result;
  return { ...rest, errors, data, ...(extensions && { extensions }) };
}

const fieldIndex = new WeakMap<DocumentNode, Map<string, ASTNode>>();

function fieldsByLocation(document: DocumentNode): Map<string, ASTNode> {
  let fields = fieldIndex.get(document);
  if (fields) return fields;
  fields = new Map();
  const index = fields;
  visit(document, {
    Field(node) {
      const start = node.loc?.startToken;
      if (start) index.set(`${start.line}:${start.column}`, node);
    },
  });
  fieldIndex.set(document, fields);
  return fields;
}

function variablesCoerce(schema: GraphQLSchema, definitions: Parameters<typeof getVariableValues>[1], values: unknown): boolean {
  if (values != null && (typeof values !== 'object' || Array.isArray(values))) return false;
  return !getVariableValues(schema, definitions, (values ?? {}) as Record<string, unknown>, { maxErrors: 1 }).errors;
}

function usesIncrementalDelivery(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive(node) {
      if (node.name.value === 'defer' || node.name.value === 'stream') found = true;
    },
  });
  return found;
}
