import { createHash, randomBytes } from 'node:crypto';
import { desc, eq, sql } from 'drizzle-orm';
import { prepared } from '../db/prepared.js';
import type { Db } from '../db/client.js';
import { apiKeys, type ApiKeyRow } from '../db/schema.js';

/** `tql_` + 32 random bytes (base64url): 256 bits, shown once, stored only as a hash. */
const KEY_PREFIX = 'tql_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function createApiKey(db: Db, owner: string): { row: ApiKeyRow; key: string } {
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(owner)) {
    throw new Error('owner must be 1 to 64 characters: letters, digits, _ . @ -');
  }
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const row = db
    .insert(apiKeys)
    .values({
      id: `key_${randomBytes(12).toString('base64url')}`,
      owner,
      hash: hashKey(key),
      prefix: key.slice(0, KEY_PREFIX.length + 6),
      createdAt: new Date(),
    })
    .returning()
    .get();
  return { row, key };
}

export function listApiKeys(db: Db): ApiKeyRow[] {
  return db.select().from(apiKeys).orderBy(desc(apiKeys.pos)).all();
}

/** Returns false when there is no such key. Revoking twice is harmless. */
export function revokeApiKey(db: Db, id: string): boolean {
  const row = db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
  if (!row) return false;
  if (!row.revokedAt) db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, id)).run();
  return true;
}

/** The live (not revoked) key matching `key`, if any. */
export function findLiveKey(db: Db, key: string): ApiKeyRow | undefined {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  const byHash = prepared(db, 'apiKeys.byHash', () => db.select().from(apiKeys).where(eq(apiKeys.hash, sql.placeholder('hash'))).prepare());
  const row = byHash.get({ hash: hashKey(key) });
  return row && !row.revokedAt ? row : undefined;
}

/** Whether any key was ever created: from then on, every request needs one. */
export function keysExist(db: Db): boolean {
  return db.select({ id: apiKeys.id }).from(apiKeys).limit(1).get() !== undefined;
}
