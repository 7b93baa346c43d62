import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

/**
 * Bundles the chat page (web/chat, Preact + graphql-ws) into web/dist/chat.js, which is
 * committed: `npm start` serves it without a build step, and a production install without
 * dev dependencies has it too. test/chat-assets.test.ts fails when it is stale.
 */
export const chatBuild: BuildOptions = {
  entryPoints: [fileURLToPath(new URL('../web/chat/main.tsx', import.meta.url))],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  write: false,
};

export const chatBundleFile = fileURLToPath(new URL('../web/dist/chat.js', import.meta.url));

export async function bundleChat(): Promise<string> {
  const result = await build(chatBuild);
  return result.outputFiles![0]!.text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(chatBundleFile, await bundleChat());
  console.log(`wrote ${chatBundleFile}`);
}
