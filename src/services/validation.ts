import { z } from 'zod';
import type { Limits } from '../config.js';
import { BadUserInputError } from '../errors.js';

/**
 * Input rules shared by every surface (GraphQL, the Assistants API): zod schemas built from the
 * configured limits. A violation becomes BAD_USER_INPUT naming the field as the caller sent
 * it (`prefix` is the surface's own path to the input, e.g. `input` on GraphQL) and the limit.
 */

const count = (n: number) => n.toLocaleString('en-US');

/** Characters are code points (an emoji is one); UTF-16 length is an upper bound, so count only when needed. */
function characters(value: string): number {
  return value.length <= 1 ? value.length : [...value].length;
}

/**
 * NUL (U+0000) is refused in stored text: PostgreSQL's text cannot hold it, and no conversation
 * needs it, so both backends refuse it alike instead of one storing what the other cannot.
 */
const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';

export function text(max: number, { allowEmpty = false } = {}) {
  return z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
    if (value.includes('\u0000')) ctx.addIssue({ code: 'custom', message: NUL_MESSAGE });
    else if (!allowEmpty && value.trim() === '') ctx.addIssue({ code: 'custom', message: 'must not be empty' });
    else if (value.length > max && characters(value) > max) {
      ctx.addIssue({ code: 'custom', message: `is ${count(characters(value))} characters long; the limit is ${count(max)}` });
    }
  });
}

/** Model names, idempotency keys and other short identifiers. */
export const name = () => text(256);

export function metadata(limits: Limits) {
  return z.unknown().optional().transform((value, ctx): Record<string, string> => {
    if (value == null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
      return z.NEVER;
    }
    const entries = Object.entries(value);
    if (entries.length > limits.metadataKeys) {
      ctx.addIssue({ code: 'custom', message: `has ${entries.length} keys; the limit is ${limits.metadataKeys}` });
      return z.NEVER;
    }
    for (const [key, v] of entries) {
      if (key.length === 0 || key.length > limits.metadataKeyChars) {
        ctx.addIssue({ code: 'custom', path: [key.slice(0, 20)], message: `keys must be 1 to ${limits.metadataKeyChars} characters long` });
        return z.NEVER;
      }
      if (typeof v !== 'string') {
        ctx.addIssue({ code: 'custom', path: [key], message: 'values must be strings' });
        return z.NEVER;
      }
      if (key.includes('\u0000') || v.includes('\u0000')) {
        ctx.addIssue({ code: 'custom', path: [key.replaceAll('\u0000', '')], message: `keys and values ${NUL_MESSAGE}` });
        return z.NEVER;
      }
      if (v.length > limits.metadataValueChars) {
        ctx.addIssue({ code: 'custom', path: [key], message: `is ${count(v.length)} characters long; the limit is ${limits.metadataValueChars}` });
        return z.NEVER;
      }
    }
    // A plain copy: inline JSONObject literals arrive as prototype-less objects.
    return Object.fromEntries(entries) as Record<string, string>;
  });
}

export const temperature = () =>
  z.number({ error: 'must be a number' }).refine((v) => v >= 0 && v <= 2, { message: 'must be between 0 and 2' });

export const truncationStrategy = () =>
  z
    .object({
      type: z.enum(['AUTO', 'LAST_MESSAGES'], { error: 'must be AUTO or LAST_MESSAGES' }),
      lastMessages: z.number().int().nullish(),
      maxInputTokens: z.number().int().nullish(),
    })
    .superRefine((v, ctx) => {
      if (v.type === 'LAST_MESSAGES' && (v.lastMessages == null || v.lastMessages < 1 || v.lastMessages > 1000)) {
        ctx.addIssue({ code: 'custom', path: ['lastMessages'], message: 'must be between 1 and 1000 for LAST_MESSAGES' });
      }
      if (v.maxInputTokens != null && v.maxInputTokens < 1) ctx.addIssue({ code: 'custom', path: ['maxInputTokens'], message: 'must be at least 1' });
    })
    .transform((v) => ({ type: v.type, lastMessages: v.type === 'LAST_MESSAGES' ? (v.lastMessages ?? null) : null, maxInputTokens: v.maxInputTokens ?? null }));

/** Validates `value`; throws BAD_USER_INPUT naming the first offending field under `prefix`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new BadUserInputError(fieldPath(prefix, issue.path), issue.message);
}

function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** OpenAI's rules for function names; the other limits keep a run's request within reason. */
export const TOOL_LIMITS = { tools: 128, descriptionChars: 1024, parametersChars: 32_768 };

export const functionTool = () =>
  z.object({
    name: z.string({ error: 'must be a string' }).regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, _ or - (as OpenAI requires)'),
    description: text(TOOL_LIMITS.descriptionChars, { allowEmpty: true }).nullish(),
    parameters: z
      .record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' })
      .nullish()
      .superRefine((value, ctx) => {
        const size = value == null ? 0 : JSON.stringify(value).length;
        if (size > TOOL_LIMITS.parametersChars) {
          ctx.addIssue({ code: 'custom', message: `is ${count(size)} characters of JSON; the limit is ${count(TOOL_LIMITS.parametersChars)}` });
        }
      }),
    strict: z.boolean({ error: 'must be a boolean' }).nullish(),
  });

export const tools = () =>
  z
    .array(functionTool(), { error: 'must be a list of function tools' })
    .superRefine((list, ctx) => {
      if (list.length > TOOL_LIMITS.tools) ctx.addIssue({ code: 'custom', message: `has ${list.length} tools; the limit is ${TOOL_LIMITS.tools}` });
      const seen = new Set<string>();
      list.forEach((tool, i) => {
        if (seen.has(tool.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${tool.name}" is defined twice` });
        seen.add(tool.name);
      });
    })
    .transform((list) =>
      list.map((t) => ({
        name: t.name,
        description: t.description ?? null,
        parameters: t.parameters ? (JSON.parse(JSON.stringify(t.parameters)) as Record<string, unknown>) : null,
        strict: t.strict ?? null,
      })),
    );

export const toolChoice = () =>
  z
    .object({
      mode: z.enum(['AUTO', 'NONE', 'REQUIRED', 'FUNCTION'], { error: 'must be AUTO, NONE, REQUIRED or FUNCTION' }),
      functionName: z.string().nullish(),
    })
    .superRefine((v, ctx) => {
      if (v.mode === 'FUNCTION' && !v.functionName) ctx.addIssue({ code: 'custom', path: ['functionName'], message: 'is required when mode is FUNCTION' });
    })
    .transform((v) => ({ mode: v.mode, functionName: v.mode === 'FUNCTION' ? (v.functionName ?? null) : null }));

/** A FUNCTION tool choice must name one of the run's tools. */
export function checkToolChoice(
  choice: { mode: string; functionName: string | null } | null,
  available: readonly { name: string }[],
  field: string,
): void {
  if (choice?.mode === 'FUNCTION' && !available.some((t) => t.name === choice.functionName)) {
    throw new BadUserInputError(`${field}.functionName`, `"${choice.functionName}" is not one of the run's tools`);
  }
  if (choice && choice.mode !== 'AUTO' && choice.mode !== 'NONE' && available.length === 0) {
    throw new BadUserInputError(`${field}.mode`, `${choice.mode} needs tools, and the run has none`);
  }
}
