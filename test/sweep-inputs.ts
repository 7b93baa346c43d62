import fc from 'fast-check';
import {
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  type GraphQLInputType,
} from 'graphql';

/**
 * fast-check arbitraries for the input sweep (not a test file itself): values for any input
 * type of the schema, mostly well-typed and close to the limits, sometimes of the wrong type.
 */

/** Ids and cursors of rows that exist, so that inputs also reach the code past the lookups. */
export interface Known {
  ids: { Assistant: string[]; Thread: string[]; Message: string[]; Run: string[] };
  cursors: string[];
}

/** The kind of id an argument or input field names (`threadId`, or `id` of `thread(id:)`). */
function idKind(hint: string): keyof Known['ids'] | null {
  const name = hint.replace(/Id$|^id:/, '').toLowerCase();
  return (({ assistant: 'Assistant', thread: 'Thread', message: 'Message', run: 'Run' }) as const)[name as 'run'] ?? null;
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** Characters that break naive code: NUL, lone surrogates, bidi overrides, quotes, SQL and format strings. */
const nasty = fc.constantFrom(
  '\u0000', '\uD800', '\uDFFF', '\uDBFF\u0041', '\uFFFF', '\uFEFF', '\u202E', '\u2028', '\r\n', '"', '\\', "'", '`',
  '😀', '🧑\u200d🚀', 'é', '日本', "'; drop table threads; --", '%s%n', '${x}', '{{x}}', '__proto__', 'constructor', 'null',
);

/** A scalar's values: plausible ones a client might send, and edge cases past the limits. */
interface Values {
  plausible: fc.Arbitrary<unknown>;
  edge: fc.Arbitrary<unknown>;
}

const text: Values = {
  plausible: fc.oneof(
    fc.string({ minLength: 1, maxLength: 20 }),
    // Valid strings all the same: they must be stored and sent back as they came.
    fc.array(fc.oneof(nasty, fc.string({ unit: 'binary', maxLength: 4 })), { minLength: 1, maxLength: 6 }).map((a) => `x${a.join('')}`),
  ),
  edge: fc.oneof(
    fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 3 }),
    // Just over the limits: names 256, metadata values and titles 512, instructions 32,000, content 100,000.
    fc.constantFrom(0, 257, 513, 32_001, 100_001).map((n) => 'x'.repeat(n)),
    fc.constantFrom('', ' ', '\t\n', '\u00a0', '\u0000'),
  ),
};

function cursor(known: Known): Values {
  return {
    plausible: fc.constantFrom(...known.cursors),
    edge: fc.oneof(
      fc.constantFrom('pos:-1', 'pos:1e400', 'pos:99999999999999999999999', 'pos:', 'pos:1.5', 'pos:0x10', 'pos:NaN').map(b64),
      fc.constantFrom('not a cursor!', '====', '', 'cG9zOjE', '%%%'),
      text.plausible.map((t) => b64(String(t))),
    ),
  };
}

function id(known: Known, hint: string): Values {
  const prefixes = ['asst', 'thread', 'msg', 'run', 'user', 'asst_', ''];
  const all = Object.values(known.ids).flat();
  const kind = idKind(hint);
  return {
    plausible: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...(kind ? known.ids[kind] : all)) }, { weight: 1, arbitrary: fc.constantFrom(...all) }),
    edge: fc.oneof(
      // A real id under another type's prefix, or with its tail changed.
      fc.tuple(fc.constantFrom(...all), fc.constantFrom(...prefixes)).map(([i, p]) => `${p}_${i.slice(i.indexOf('_') + 1)}`),
      fc.constantFrom(...all).map((i) => `${i.slice(0, -1)}${i.endsWith('A') ? 'B' : 'A'}`),
      // The empty id: falsy, so the easiest to mistake for a left-out one.
      { weight: 3, arbitrary: fc.constant('') },
      fc.constantFrom('_', 'thread_', 'run_\u0000', 'msg_' + 'x'.repeat(5000), 'Thread_abc', ' thread_x'),
      text.plausible,
      fc.integer(),
    ),
  };
}

const int: Values = {
  plausible: fc.integer({ min: 0, max: 20 }),
  edge: fc.oneof(
    fc.integer(),
    fc.constantFrom(-1, 101, 1000, 1001, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, -0, Number.MAX_SAFE_INTEGER + 2),
  ),
};

const float: Values = {
  plausible: fc.double({ min: 0, max: 2, noNaN: true }),
  edge: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(-1, 2.000001, -0.000001, 1e308, 5e-324)),
};

/**
 * JSON nested `depth` levels deep, as an object or an array. It becomes that JSON only when
 * serialized (toJSON), so fast-check can still print a failing input that holds it.
 */
class Deep {
  constructor(
    readonly depth: number,
    readonly array: boolean,
  ) {}
  toJSON(): unknown {
    let value: unknown = 'leaf';
    for (let i = 0; i < this.depth; i++) value = this.array ? [value] : { a: value };
    return value;
  }
  /** The same as a GraphQL literal, built without recursion (3,000 levels overflow a recursive printer). */
  toLiteral(): string {
    return this.array ? `${'['.repeat(this.depth)}"leaf"${']'.repeat(this.depth)}` : `${'{a: '.repeat(this.depth)}"leaf"${'}'.repeat(this.depth)}`;
  }
  [fc.toStringMethod](): string {
    return `<${this.array ? 'array' : 'object'} nested ${this.depth} deep>`;
  }
}
export const deep = (depth: number, array: boolean) => new Deep(depth, array);

const metadata: Values = {
  plausible: fc.dictionary(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), nasty), fc.oneof(fc.string({ maxLength: 8 }), nasty), { maxKeys: 4 }),
  edge: fc.oneof(
    fc.integer({ min: 15, max: 18 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))),
    fc.constantFrom({ ['k'.repeat(65)]: 'v' }, { '': 'v' }, { k: 'v'.repeat(513) }, JSON.parse('{"__proto__":"x"}'), JSON.parse('{"__proto__":{"polluted":"yes"}}')),
    fc.constantFrom(5, 100, 3000).chain((d) => fc.boolean().map((array) => ({ deep: deep(d, array) }))),
    fc.jsonValue({ maxDepth: 3 }),
  ),
};

/** Anything JSON can carry, to put where another type belongs. */
export const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 5 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

/**
 * A value for `type`. Clean: what a well-behaved client sends (strings may still hold NUL bytes
 * and odd characters, ids may name another owner's or the wrong kind of row). Not clean: the
 * same with exactly one bad leaf somewhere inside — past a limit, of the wrong type, null where
 * it may not be, an unknown field — so that the rest is valid and the bad part reaches the
 * code that must refuse it. `hint` is the argument's or input field's name (`id:<field>` for
 * a root `id`): it picks ids of the right kind and cursors for `after`/`before`.
 */
export function valueFor(type: GraphQLInputType, known: Known, hint: string, clean: boolean): fc.Arbitrary<unknown> {
  if (clean) return isNonNullType(type) ? cleanValue(type.ofType, known, hint) : fc.oneof(cleanValue(type, known, hint), fc.constant(undefined));
  return fc.oneof({ weight: 6, arbitrary: oneBadLeaf(type, known, hint) }, { weight: 1, arbitrary: wrongType });
}

/** A function tool a client would define: a valid name, distinct within its list. */
const cleanTool = fc.record({
  name: fc.constantFrom('get_weather', 'lookup_order', 'search-docs', 'x'),
  description: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  parameters: fc.constant({ type: 'object', properties: { q: { type: 'string' } } }),
  strict: fc.option(fc.boolean(), { nil: undefined }),
});

/** Whether `type` (any list or non-null wrapping) is the named input type. */
const isNamed = (type: GraphQLInputType, name: string): boolean =>
  isNonNullType(type) || isListType(type) ? isNamed(type.ofType as GraphQLInputType, name) : 'name' in type && type.name === name;

function cleanValue(type: GraphQLInputType, known: Known, hint: string): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return cleanValue(type.ofType, known, hint);
  // Tools have rules beyond their GraphQL types (names, no duplicates, a choice that needs tools):
  // a clean request holds tools a client would define, and no choice that needs a tool it lacks.
  if (isListType(type) && isNamed(type, 'FunctionToolInput')) return fc.uniqueArray(cleanTool, { selector: (t) => t.name, maxLength: 3 });
  if (isNamed(type, 'ToolChoiceInput')) return fc.constantFrom({ mode: 'AUTO' }, { mode: 'NONE' });
  if (isListType(type)) return fc.array(valueFor(type.ofType, known, hint, true), { maxLength: 3 });
  if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
  if (isInputObjectType(type)) {
    return fc.record(Object.fromEntries(Object.values(type.getFields()).map((f) => [f.name, valueFor(f.type, known, f.name, true)])));
  }
  return scalarValues(type.name, known, hint)?.plausible ?? wrongType;
}

function oneBadLeaf(type: GraphQLInputType, known: Known, hint: string): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return fc.oneof({ weight: 4, arbitrary: oneBadLeaf(type.ofType, known, hint) }, { weight: 1, arbitrary: fc.constantFrom(null, undefined) });
  if (isListType(type)) {
    return fc
      .tuple(fc.array(valueFor(type.ofType, known, hint, true), { maxLength: 2 }), valueFor(type.ofType, known, hint, false), fc.nat())
      .map(([items, bad, at]) => items.toSpliced(at % (items.length + 1), 0, bad));
  }
  if (isEnumType(type)) return fc.constantFrom('', 'user', 'UNKNOWN', '__proto__', 'ASSISTANT ');
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const clean = cleanValue(type, known, hint) as fc.Arbitrary<Record<string, unknown>>;
    return fc.oneof(
      { weight: 6, arbitrary: fc.nat({ max: fields.length - 1 }).chain((i) => fc.tuple(clean, valueFor(fields[i]!.type, known, fields[i]!.name, false)).map(([value, bad]) => ({ ...value, [fields[i]!.name]: bad }))) },
      { weight: 1, arbitrary: fc.tuple(clean, fc.constantFrom('extra', '__proto__', 'constructor')).map(([value, extra]) => ({ ...value, [extra]: 1 })) },
    );
  }
  return scalarValues(type.name, known, hint)?.edge ?? wrongType;
}

function scalarValues(name: string, known: Known, hint: string): Values | null {
  switch (name) {
    case 'ID':
      return id(known, hint);
    case 'String':
      return hint === 'after' || hint === 'before' ? cursor(known) : text;
    case 'Int':
      return int;
    case 'Float':
      return float;
    case 'Boolean':
      return { plausible: fc.boolean(), edge: fc.boolean() };
    case 'JSONObject':
      return metadata;
    case 'DateTime':
      return { plausible: fc.constant('2024-01-01T00:00:00Z'), edge: fc.constantFrom('yesterday', '') };
  }
  return null;
}
