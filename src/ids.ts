import { randomBytes } from 'node:crypto';

export const idPrefixes = {
  Assistant: 'asst',
  Thread: 'thread',
  Message: 'msg',
  Run: 'run',
} as const;

export type NodeTypeName = keyof typeof idPrefixes;

/** `<prefix>_<22 base64url chars>`: 128 random bits, so ids cannot be guessed. */
export function newId(type: NodeTypeName): string {
  return `${idPrefixes[type]}_${randomBytes(16).toString('base64url')}`;
}

/** The node type an id names, from its prefix; null for anything else. */
export function nodeTypeOf(id: string): NodeTypeName | null {
  const prefix = id.slice(0, id.indexOf('_'));
  for (const [type, p] of Object.entries(idPrefixes)) if (p === prefix) return type as NodeTypeName;
  return null;
}

/** Whether a loaded row is of the node type with this prefix (Node interface resolution). */
export function hasIdPrefix(value: unknown, prefix: string): boolean {
  return typeof value === 'object' && value !== null && String((value as { id?: unknown }).id).startsWith(prefix);
}

/** A tool call's id (`call_…`, like OpenAI's); tool calls are not nodes. */
export function newToolCallId(): string {
  return `call_${randomBytes(16).toString('base64url')}`;
}
