// `npm run keys -- create --owner alice | list | revoke <id>`: manages API keys in DATABASE_URL.
import { createApiKey, listApiKeys, revokeApiKey } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { sendControlOnce } from '../src/services/events/redis-pubsub.js';
import { createStore } from '../src/store/index.js';

const usage = `Usage:
  npm run keys -- create --owner <owner>   create a key (shown once)
  npm run keys -- list                     list keys (never the keys themselves)
  npm run keys -- revoke <key id>          revoke a key at once`;

const [command, ...rest] = process.argv.slice(2);
const config = loadConfig();
const store = await createStore(config.databaseUrl);
let exitCode = 0;
try {
  if (command === 'create') {
    const ownerIndex = rest.indexOf('--owner');
    const owner = ownerIndex >= 0 ? rest[ownerIndex + 1] : undefined;
    if (!owner) throw new Error(`create needs --owner <owner>\n${usage}`);
    const { row, key } = await createApiKey(store.keys, owner);
    console.log(`Created key ${row.id} for owner "${owner}". It is shown only now; store it safely:\n${key}`);
  } else if (command === 'list') {
    const rows = await listApiKeys(store.keys);
    if (rows.length === 0) console.log('No keys.');
    for (const r of rows) {
      const state = r.revokedAt ? `revoked ${r.revokedAt.toISOString()}` : 'active';
      console.log(`${r.id}\t${r.owner}\t${r.prefix}…\tcreated ${r.createdAt.toISOString()}\t${state}`);
    }
  } else if (command === 'revoke') {
    const id = rest[0];
    if (!id) throw new Error(`revoke needs a key id\n${usage}`);
    if (!(await revokeApiKey(store.keys, id))) throw new Error(`No key with id "${id}".`);
    console.log(`Revoked ${id}.`);
    // Instances end the key's open subscriptions at once on this hint; without it, within their 500 ms sweep.
    if (config.redis) await sendControlOnce(config.redis.url, config.redis.prefix, { type: 'key-revoked', keyId: id });
  } else {
    throw new Error(usage);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  exitCode = 1;
} finally {
  await store.close();
}
process.exit(exitCode);
