import { randomFillSync } from 'node:crypto';

export const idPrefixes = {
  Assistant: 'asst',
  Thread: 'thread',
  Message: 'msg',
  Run: 'run',
} as const;

export type NodeTypeName = keyof typeof idPrefixes;

/**
 * Random bytes are drawn from the OS a pool at a time: one randomBytes(16) per id costs a call
 * into OpenSSL and a Buffer each (~3 µs; a run writes three ids before its first token), a
 * slice of the pool ~0.2 µs. Every byte is used once.
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolOffset = POOL_BYTES;

/** 16 fresh random bytes (128 bits), base64url: 22 characters. */
function random128(): string {
  if (poolOffset + 16 > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const text = pool.toString('base64url', poolOffset, poolOffset + 16);
  poolOffset += 16;
  return text;
}

/**
 * When an id is made: milliseconds since the epoch in base 36, 9 characters (enough to the year
 * 5000). Digits and lowercase letters only, so these characters sort by time under SQLite's
 * binary collation and under a PostgreSQL locale's alike (the random tail after them does not
 * sort the same way under both; nothing relies on that order).
 */
function creationTime(): string {
  return Date.now().toString(36).padStart(9, '0');
}

/**
 * `<prefix>_<9 time chars><22 base64url chars>`: 128 random bits, so ids cannot be guessed.
 * The time first, so that ids made together sort together: every index keyed by an id (each
 * table's id, a thread's messages, runs and events) takes new rows at its end, where a commit
 * rewrites the one page that is already hot, instead of a random page per row and per index
 * (with random ids a run dirtied dozens of index pages, each written to the WAL in full).
 * The creation time the id shows is also the object's createdAt, which the API returns anyway.
 */
export function newId(type: NodeTypeName): string {
  return `${idPrefixes[type]}_${creationTime()}${random128()}`;
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
  return `call_${random128()}`;
}
