import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyRow, KeyStore } from '../store/types.js';

/** `tql_` + 32 random bytes (base64url): 256 bits, shown once, stored only as a hash. */
const KEY_PREFIX = 'tql_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export async function createApiKey(keys: KeyStore, owner: string): Promise<{ row: ApiKeyRow; key: string }> {
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(owner)) {
    throw new Error('owner must be 1 to 64 characters: letters, digits, _ . @ -');
  }
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const row = await keys.insert({
    id: `key_${randomBytes(12).toString('base64url')}`,
    owner,
    hash: hashKey(key),
    prefix: key.slice(0, KEY_PREFIX.length + 6),
    createdAt: new Date(),
    revokedAt: null,
  });
  return { row, key };
}

export function listApiKeys(keys: KeyStore): Promise<ApiKeyRow[]> {
  return keys.list();
}

/** Returns false when there is no such key. Revoking twice is harmless. */
export async function revokeApiKey(keys: KeyStore, id: string): Promise<boolean> {
  if (!(await keys.find(id))) return false;
  await keys.revoke(id, new Date());
  return true;
}

/** The live (not revoked) key matching `key`, if any. */
export async function findLiveKey(keys: KeyStore, key: string): Promise<ApiKeyRow | undefined> {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  const row = await keys.byHash(hashKey(key));
  return row && !row.revokedAt ? row : undefined;
}
