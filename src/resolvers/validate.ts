import type { Limits } from '../config.js';
import type { Metadata, TruncationStrategy } from '../db/schema.js';
import { BadUserInputError } from '../errors.js';

/**
 * Input checks run before anything is stored. Each error names the field (as a path into the
 * mutation input) and the limit.
 */

const count = (n: number) => n.toLocaleString('en-US');

export function checkText(field: string, value: string, max: number, { allowEmpty = false } = {}): string {
  if (!allowEmpty && value.trim() === '') throw new BadUserInputError(field, 'must not be empty');
  // Characters are code points (an emoji is one); UTF-16 length is an upper bound, so count only when needed.
  if (value.length > max) {
    const characters = [...value].length;
    if (characters > max) throw new BadUserInputError(field, `is ${count(characters)} characters long; the limit is ${count(max)}`);
  }
  return value;
}

export function checkOptionalText(field: string, value: string | null | undefined, max: number): string | null {
  return value == null ? null : checkText(field, value, max, { allowEmpty: true });
}

export function checkMetadata(field: string, value: unknown, limits: Limits): Metadata {
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BadUserInputError(field, 'must be a JSON object');
  const entries = Object.entries(value);
  if (entries.length > limits.metadataKeys) {
    throw new BadUserInputError(field, `has ${entries.length} keys; the limit is ${limits.metadataKeys}`);
  }
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > limits.metadataKeyChars) {
      throw new BadUserInputError(`${field}.${key.slice(0, 20)}`, `keys must be 1 to ${limits.metadataKeyChars} characters long`);
    }
    if (typeof v !== 'string') throw new BadUserInputError(`${field}.${key}`, 'values must be strings');
    if (v.length > limits.metadataValueChars) {
      throw new BadUserInputError(`${field}.${key}`, `is ${count(v.length)} characters long; the limit is ${limits.metadataValueChars}`);
    }
  }
  // A plain copy: inline JSONObject literals arrive as prototype-less objects, which Drizzle cannot serialize.
  return Object.fromEntries(entries) as Metadata;
}

export function checkTemperature(field: string, value: number | null | undefined): number | null {
  if (value == null) return null;
  if (!(value >= 0 && value <= 2)) throw new BadUserInputError(field, 'must be between 0 and 2');
  return value;
}

/** Model names and other short identifiers. */
export function checkName(field: string, value: string | null | undefined, max = 256): string | null {
  if (value == null) return null;
  return checkText(field, value, max);
}

export function checkTruncation(field: string, value: TruncationStrategy | null | undefined): TruncationStrategy | null {
  if (value == null) return null;
  const { type, lastMessages = null, maxInputTokens = null } = value;
  if (type === 'LAST_MESSAGES' && (lastMessages == null || lastMessages < 1 || lastMessages > 1000)) {
    throw new BadUserInputError(`${field}.lastMessages`, 'must be between 1 and 1000 for LAST_MESSAGES');
  }
  if (maxInputTokens != null && maxInputTokens < 1) throw new BadUserInputError(`${field}.maxInputTokens`, 'must be at least 1');
  return { type, lastMessages: type === 'LAST_MESSAGES' ? lastMessages : null, maxInputTokens };
}
