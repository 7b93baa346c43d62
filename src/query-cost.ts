import { GraphQLError, getNamedType, visit, type ASTNode, type DocumentNode, type GraphQLSchema } from 'graphql';
import { getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';
import { DEFAULT_PAGE_SIZE } from './services/pagination.js';

export type CostArgs = { schema: GraphQLSchema; document: DocumentNode; variableValues?: unknown; operationName?: string | null };

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
 * The variables an operation's cost can depend on: those the estimators read (connection page
 * sizes, `first` and `last`) and those of directives (`@include`/`@skip` decide which fields
 * count). Every other variable — an `id`, an `input` — changes what is read, never the cost.
 */
function costVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  const collect = (node: ASTNode) => visit(node, { Variable: (v) => void names.add(v.name.value) });
  visit(document, {
    Argument: (arg) => (arg.name.value === 'first' || arg.name.value === 'last' ? (collect(arg.value), false) : undefined),
    Directive: (directive) => (collect(directive), false),
  });
  return [...names].sort();
}

/** Passing costs kept per document; past this many variants of one document, it is computed each time. */
const MAX_VARIANTS = 64;

/** The refusal of an operation over `maxCost`, or null; `compute` is the slow path (tests count its calls). */
export function costCheck(maxCost: number, compute = operationCost): (args: CostArgs) => GraphQLError | null {
  const relevant = new WeakMap<DocumentNode, string[]>();
  const passed = new WeakMap<DocumentNode, Set<string>>();
  const keyOf = (args: CostArgs): string | null => {
    const values = args.variableValues ?? {};
    if (typeof values !== 'object' || Array.isArray(values)) return null;
    let names = relevant.get(args.document);
    if (!names) relevant.set(args.document, (names = costVariables(args.document)));
    let key = args.operationName ?? '';
    for (const name of names) {
      const value = (values as Record<string, unknown>)[name];
      key += `\u0000${value === undefined ? '' : JSON.stringify(value)}`;
    }
    return key;
  };
  return (args: CostArgs) => {
    const key = keyOf(args);
    if (key !== null && passed.get(args.document)?.has(key)) return null;
    let cost: number;
    try {
      cost = compute(args.schema, args.document, args.variableValues as Record<string, unknown>, args.operationName ?? undefined);
    } catch {
      return null; // invalid variables: execution reports them, and runs no resolver
    }
    if (cost <= maxCost) {
      if (key !== null) {
        let variants = passed.get(args.document);
        if (!variants) passed.set(args.document, (variants = new Set()));
        if (variants.size < MAX_VARIANTS) variants.add(key);
      }
      return null;
    }
    return new GraphQLError(`The operation costs ${cost}; the limit is ${maxCost}. Ask for smaller pages or fewer nested connections.`, {
      extensions: { code: 'BAD_USER_INPUT', cost, maxCost },
    });
  };
}

/**
 * Refuses operations whose cost — roughly the number of fields they can resolve — is over
 * `maxCost`, with the variables applied, before any resolver runs. (graphql-armor's cost rule
 * runs at validation, without variables, so `first: $n` would slip past it.)
 *
 * yoga reuses the parsed document of a repeated query, so a cost that passed is remembered per
 * document, operation and the values of the variables it depends on (`costVariables`): the
 * same query for another thread costs the same. Only passes are remembered: the slow path
 * answers "no refusal" when the variables do not coerce (execution reports them), and a
 * remembered pass answers the same; a refusal is computed again each time.
 */
export function useQueryCost(maxCost: number): Plugin {
  const check = costCheck(maxCost);
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
