import { cpSync, readdirSync, rmSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * `npm run build`: every file of src/ into dist/ as plain JavaScript, so that the production
 * start (`npm run start:prod` = `node dist/server.js`) compiles nothing. It is the transform
 * `npm start` already runs through tsx (esbuild, file by file, no bundling): the same
 * modules, the same behaviour, in about a second. Types are checked by `npm run typecheck`.
 * Files the code reads beside itself (the SQL migrations) are copied; the chat page is read
 * from web/ at the repository root either way.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, process.argv[2] ?? 'dist');
const entries = readdirSync(src, { recursive: true, withFileTypes: true });

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: entries.filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')).map((e) => join(e.parentPath, e.name)),
  outdir: dist,
  outbase: src,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
for (const folder of entries.filter((e) => e.isDirectory() && basename(e.name) === 'migrations')) {
  const path = join(folder.parentPath, folder.name);
  cpSync(path, join(dist, relative(src, path)), { recursive: true });
}
console.log(`built ${relative(root, dist)}/ (run it: npm run start:prod)`);
