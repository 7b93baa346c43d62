import {
  getDirectiveValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  GraphQLBoolean,
  GraphQLFloat,
  GraphQLID,
  GraphQLIncludeDirective,
  GraphQLInt,
  GraphQLSkipDirective,
  GraphQLString,
  isAbstractType,
  isNonNullType,
  isObjectType,
  Kind,
  typeFromAST,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { passEvent } from './relay.js';

/**
 * What one subscription operation selects of each event type, compiled once per operation so
 * that an event becomes its `data` without an executor pass: for the selections that are only
 * leaf fields read straight off the event (the default resolver) — with __typename, aliases,
 * fragments, @include/@skip. A type whose selection needs more (a nested object, a resolver,
 * arguments) has no projector; its events go through the executor, as do values a projector
 * cannot vouch for (null in a non-null field, a number in a String field: the executor's own
 * coercion or error applies).
 */
export interface EventPlan {
  /** The subscription field's response key (its alias, or its name). */
  readonly key: string;
  /** Projectors by concrete type name. */
  readonly byType: ReadonlyMap<string, Projector>;
}

/** The event's selected fields, or undefined when the executor must answer instead. */
export type Projector = (event: Record<string, unknown>) => Record<string, unknown> | undefined;

interface PlanArgs {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  variableValues?: Record<string, unknown> | null;
}

/** Only these leave a selection compilable; any other directive (@defer, @stream, a custom one) keeps the executor. */
const SELECTION_DIRECTIVES = new Set(['include', 'skip']);

/** null: the operation is not a relayed subscription the fast path can serve (the executor serves all of it). */
export function planEvents({ schema, document, operationName, variableValues }: PlanArgs): EventPlan | null {
  const operation = getOperationAST(document, operationName);
  const rootType = schema.getSubscriptionType();
  if (!operation || operation.operation !== 'subscription' || !rootType || usesOtherDirectives(document)) return null;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variableValues ?? {});
  if (coerced.errors) return null;
  const selection = new Selection(schema, fragmentsOf(document), coerced.coerced);
  const roots = selection.collect(rootType, [operation.selectionSet]);
  const [root, ...more] = roots;
  if (!root || more.length > 0) return null;
  const [key, nodes] = root;
  const field = rootType.getFields()[nodes[0]!.name.value];
  if (!field || field.resolve !== passEvent) return null;
  const eventType = getNamedType(field.type);
  const types = isAbstractType(eventType) ? schema.getPossibleTypes(eventType) : isObjectType(eventType) ? [eventType] : [];
  const byType = new Map<string, Projector>();
  for (const type of types) {
    const projector = projectorFor(type, selection.collect(type, nodes.map((n) => n.selectionSet!).filter(Boolean)));
    if (projector) byType.set(type.name, projector);
  }
  return { key, byType };
}

type Step =
  | { key: string; constant: string }
  | { key: string; property: string; accepts: (value: unknown) => boolean; nullable: boolean };

/** The leaf scalars whose serialize returns these values unchanged: those pass as they are. */
const unchanged = new Map<unknown, (value: unknown) => boolean>([
  [GraphQLString, (v) => typeof v === 'string'],
  [GraphQLID, (v) => typeof v === 'string'],
  [GraphQLBoolean, (v) => typeof v === 'boolean'],
  [GraphQLInt, (v) => typeof v === 'number' && Number.isInteger(v) && v <= 2147483647 && v >= -2147483648],
  [GraphQLFloat, (v) => typeof v === 'number' && Number.isFinite(v)],
]);

function projectorFor(type: GraphQLObjectType, fields: Map<string, FieldNode[]>): Projector | undefined {
  // isTypeOf would be asked of every value; such types keep the executor.
  if (type.isTypeOf) return undefined;
  const steps: Step[] = [];
  for (const [key, nodes] of fields) {
    const node = nodes[0]!;
    if (node.name.value === '__typename') {
      steps.push({ key, constant: type.name });
      continue;
    }
    const field = type.getFields()[node.name.value];
    if (!field || field.resolve || field.args.length > 0 || nodes.some((n) => n.arguments?.length)) return undefined;
    const nullable = !isNonNullType(field.type);
    const accepts = unchanged.get(nullable ? field.type : (field.type as { ofType: unknown }).ofType);
    if (!accepts) return undefined;
    steps.push({ key, property: field.name, accepts, nullable });
  }
  return (event) => {
    const data: Record<string, unknown> = {};
    for (const step of steps) {
      if ('constant' in step) {
        data[step.key] = step.constant;
        continue;
      }
      const value = event[step.property];
      if (value === null || value === undefined) {
        if (!step.nullable) return undefined;
        data[step.key] = null;
      } else if (step.accepts(value)) data[step.key] = value;
      else return undefined;
    }
    return data;
  };
}

/** Field collection as the executor does it (response keys in first-seen order, fragments once, @skip before @include). */
class Selection {
  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: Record<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
  ) {}

  collect(type: GraphQLObjectType, selectionSets: readonly SelectionSetNode[]): Map<string, FieldNode[]> {
    const fields = new Map<string, FieldNode[]>();
    const visited = new Set<string>();
    for (const set of selectionSets) this.collectInto(type, set, fields, visited);
    return fields;
  }

  private collectInto(type: GraphQLObjectType, set: SelectionSetNode, fields: Map<string, FieldNode[]>, visited: Set<string>): void {
    for (const selection of set.selections) {
      if (!this.included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        const list = fields.get(key);
        if (list) list.push(selection);
        else fields.set(key, [selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (this.applies(selection.typeCondition?.name.value, type)) this.collectInto(type, selection.selectionSet, fields, visited);
      } else {
        const name = selection.name.value;
        if (visited.has(name)) continue;
        const fragment = this.fragments[name];
        if (!fragment || !this.applies(fragment.typeCondition.name.value, type)) continue;
        visited.add(name);
        this.collectInto(type, fragment.selectionSet, fields, visited);
      }
    }
  }

  private included(node: Parameters<typeof getDirectiveValues>[1]): boolean {
    if (getDirectiveValues(GraphQLSkipDirective, node, this.variables)?.if === true) return false;
    return getDirectiveValues(GraphQLIncludeDirective, node, this.variables)?.if !== false;
  }

  private applies(condition: string | undefined, type: GraphQLObjectType): boolean {
    if (condition === undefined) return true;
    const conditional = typeFromAST(this.schema, { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: condition } });
    if (conditional === type) return true;
    return isAbstractType(conditional) && this.schema.getPossibleTypes(conditional).includes(type);
  }
}

function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  return fragments;
}

/** By document: yoga's parser cache hands every subscriber of one query text the same document. */
const otherDirectives = new WeakMap<DocumentNode, boolean>();

function usesOtherDirectives(document: DocumentNode): boolean {
  let other = otherDirectives.get(document);
  if (other === undefined) {
    other = false;
    visit(document, {
      Directive(node) {
        if (!SELECTION_DIRECTIVES.has(node.name.value)) other = true;
      },
    });
    otherDirectives.set(document, other);
  }
  return other;
}

