import { readFileSync } from 'node:fs';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
} from 'graphql';

/**
 * Every root field of schema.graphql as an operation the input sweep can send with any argument
 * values, as variables or inline literals (not a test file itself). Built from the printed
 * schema, so a new operation is swept without anyone listing it.
 */

export const sweptSchema = buildSchema(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));

export type OperationKind = 'query' | 'mutation' | 'subscription';

/** One argument of the operation: at the root field, or of a nested field (a connection's `first`, say). */
export interface ArgSpec {
  variable: string;
  /** The argument's own name (`after`, `input`). */
  name: string;
  /** An argument of a nested field, not of the operation's root field. */
  nested: boolean;
  type: GraphQLInputType;
}

export interface SweptOperation {
  kind: OperationKind;
  field: string;
  args: ArgSpec[];
  /** Whether the payload has a `reply` to @defer (createThread, sendMessage). */
  deferrable: boolean;
}

export function sweptOperations(): SweptOperation[] {
  const roots = [
    ['query', sweptSchema.getQueryType()],
    ['mutation', sweptSchema.getMutationType()],
    ['subscription', sweptSchema.getSubscriptionType()],
  ] as const;
  return roots.flatMap(([kind, type]) =>
    Object.values(type!.getFields()).map((field) => {
      const args: ArgSpec[] = [];
      selection(field, field.name, 0, args, () => '');
      const returned = getNamedType(field.type);
      const deferrable = isObjectType(returned) && 'reply' in returned.getFields();
      return { kind, field: field.name, args, deferrable };
    }),
  );
}

export interface Rendered {
  query: string;
  variables: Record<string, unknown>;
}

/** The operation text with `values` (by variable name; undefined: left out) as variables or inline. */
export function render(op: SweptOperation, values: Record<string, unknown>, options: { inline: boolean; defer: boolean }): Rendered {
  const field = rootType(op.kind).getFields()[op.field]!;
  const variables: Record<string, unknown> = {};
  const definitions: string[] = [];
  const argument = (spec: ArgSpec) => {
    const value = values[spec.variable];
    if (options.inline) return value === undefined ? null : literal(value, spec.type);
    definitions.push(`$${spec.variable}: ${String(spec.type)}`);
    if (value !== undefined) variables[spec.variable] = value;
    return `$${spec.variable}`;
  };
  let body = selection(field, field.name, 0, [], argument);
  if (options.defer && op.deferrable) body = body.replace(/\}$/, ' ... @defer { reply { id status content } } }');
  const header = definitions.length ? `(${definitions.join(', ')})` : '';
  return { query: `${op.kind} Swept${header} { ${body} }`, variables };
}

function rootType(kind: OperationKind) {
  return (kind === 'query' ? sweptSchema.getQueryType() : kind === 'mutation' ? sweptSchema.getMutationType() : sweptSchema.getSubscriptionType())!;
}

// Three levels of objects below the root field reach a connection's nodes; types already on
// the path are not entered again (thread → runs → thread), which keeps documents in the limits.
const MAX_DEPTH = 3;

function selection(
  field: GraphQLField<unknown, unknown>,
  path: string,
  depth: number,
  specs: ArgSpec[],
  argument: (spec: ArgSpec) => string | null,
  seen: Set<string> = new Set(),
): string {
  const args = field.args
    .map((arg) => {
      const spec = { variable: `${path}_${arg.name}`.replace(/[^_0-9A-Za-z]/g, '_'), name: arg.name, nested: depth > 0, type: arg.type };
      specs.push(spec);
      const text = argument(spec);
      return text === null ? null : `${arg.name}: ${text}`;
    })
    .filter((a) => a !== null);
  const head = args.length ? `${field.name}(${args.join(', ')})` : field.name;
  const type = getNamedType(field.type);
  if (isLeafType(type)) return head;
  return `${head} { ${subfields(type, path, depth + 1, specs, argument, new Set([...seen, type.name]))} }`;
}

function subfields(
  type: GraphQLNamedType,
  path: string,
  depth: number,
  specs: ArgSpec[],
  argument: (spec: ArgSpec) => string | null,
  seen: Set<string>,
  alias: { prefix: string; names: Set<string> } | null = null,
): string {
  const parts = ['__typename'];
  if (isInterfaceType(type)) {
    // The interface's own leaves, and each implementation's.
    for (const f of Object.values(type.getFields())) if (isLeafType(getNamedType(f.type))) parts.push(f.name);
    // Implementations may give one field name different types (Run.model String!, Assistant.model
    // String): those fields are aliased by type, so they cannot conflict.
    const impls = sweptSchema.getPossibleTypes(type);
    const typesByName = new Map<string, Set<string>>();
    for (const impl of impls) for (const f of Object.values(impl.getFields())) typesByName.set(f.name, (typesByName.get(f.name) ?? new Set()).add(String(f.type)));
    const conflicting = new Set([...typesByName].filter(([, types]) => types.size > 1).map(([name]) => name));
    for (const impl of impls) {
      parts.push(`... on ${impl.name} { ${subfields(impl, `${path}_${impl.name}`, depth, specs, argument, seen, { prefix: `${impl.name}_`, names: conflicting })} }`);
    }
    return parts.join(' ');
  }
  if (!isObjectType(type)) return parts.join(' ');
  for (const f of Object.values(type.getFields())) {
    const named = getNamedType(f.type);
    // `reply` waits for the run to end: only the @defer variant asks for it.
    if (f.name === 'reply' && depth === 1) continue;
    const as = alias?.names.has(f.name) ? `${alias.prefix}${f.name}: ` : '';
    if (isLeafType(named)) parts.push(`${as}${f.name}`);
    else if (depth < MAX_DEPTH && !seen.has(named.name)) parts.push(as + selection(f, `${path}_${f.name}`, depth, specs, argument, seen));
  }
  return parts.join(' ');
}

const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/**
 * A JS value as a GraphQL literal. Enum values go bare where the type is an enum; object keys
 * that are no GraphQL name are quoted, which is itself a syntax error worth sending.
 */
export function literal(value: unknown, type?: GraphQLInputType): string {
  const inner = type && isNonNullType(type) ? type.ofType : type;
  if (value === null || value === undefined) return 'null';
  if (typeof (value as { toLiteral?: unknown }).toLiteral === 'function') return (value as { toLiteral(): string }).toLiteral();
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return inner && isEnumType(inner) && NAME.test(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => literal(v, inner && isListType(inner) ? inner.ofType : undefined)).join(', ')}]`;
  if (typeof value === 'object') {
    const fields = inner && isInputObjectType(inner) ? inner.getFields() : {};
    const entries = Object.entries(value).map(([k, v]) => `${NAME.test(k) ? k : JSON.stringify(k)}: ${literal(v, fields[k]?.type)}`);
    return `{${entries.join(', ')}}`;
  }
  return JSON.stringify(String(value));
}
