import { GraphQLError, Kind, getNamedType, type DocumentNode, type GraphQLSchema } from 'graphql';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';
import { DEFAULT_PAGE_SIZE } from './services/pagination.js';

type CostArgs = { schema: GraphQLSchema; document: DocumentNode; variableValues?: unknown; operationName?: string | null };

/**
 * A connection costs its page size times what each item selects: `first`/`last` as the
 * variables give them (not only literals), the default page size when neither is given.
 */
const connectionEstimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  if (!getNamedType(field.type).name.endsWith('Connection')) return undefined;
  const pageSize = Number(args.first ?? args.last ?? DEFAULT_PAGE_SIZE);
  return 1 + pageSize * childComplexity;
};

export function operationCost(schema: GraphQLSchema, document: DocumentNode, variables?: Record<string, unknown>, operationName?: string): number {
  return getComplexity({
    schema,
    query: document,
    variables: variables ?? {},
    ...(operationName ? { operationName } : {}),
    estimators: [connectionEstimator, simpleEstimator({ defaultComplexity: 1 })],
  });
}

/**
 * Refuses operations whose cost — roughly the number of fields they can resolve — is over
 * `maxCost`, with the variables applied, before any resolver runs. (graphql-armor's cost rule
 * runs at validation, without variables, so `first: $n` would slip past it.)
 */
export function useQueryCost(maxCost: number): Plugin {
  // yoga reuses the parsed document of a repeated query; without variables its cost is fixed.
  const fixedCosts = new WeakMap<DocumentNode, Map<string, number>>();
  const costOf = (args: CostArgs): number => {
    const operation = args.operationName ?? '';
    const fixed = !args.document.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.variableDefinitions?.length);
    const cached = fixed ? fixedCosts.get(args.document)?.get(operation) : undefined;
    if (cached !== undefined) return cached;
    const cost = operationCost(args.schema, args.document, args.variableValues as Record<string, unknown>, args.operationName ?? undefined);
    if (fixed) {
      const byOperation = fixedCosts.get(args.document) ?? new Map<string, number>();
      fixedCosts.set(args.document, byOperation.set(operation, cost));
    }
    return cost;
  };
  const check = (args: CostArgs) => {
    let cost: number;
    try {
      cost = costOf(args);
    } catch {
      return null; // invalid variables: execution reports them, and runs no resolver
    }
    if (cost <= maxCost) return null;
    return new GraphQLError(`The operation costs ${cost}; the limit is ${maxCost}. Ask for smaller pages or fewer nested connections.`, {
      extensions: { code: 'BAD_USER_INPUT', cost, maxCost },
    });
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
