import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { projectRoot } from './children.js';
import { percentile } from './stats.js';

/**
 * `npm run bench:start` — how long `npm start` (TypeScript compiled by tsx as modules load)
 * and the production start (`node dist/server.js`, after `npm run build`) take from spawn to
 * "listening", each on a fresh database, median of RUNS. tsx keeps its compiled files in a
 * cache under the temporary folder: "cold" gives each start a new, empty one (a fresh
 * machine, a new container), "warm" reuses one (a restart on the same machine).
 */
const RUNS = Number(process.env.RUNS ?? 7);

function timeToListen(args: string[], env: Record<string, string>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'threadql-start-'));
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: join(dir, 'start.db'), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      if (!out.includes('listening on')) return;
      const ms = performance.now() - started;
      child.kill('SIGKILL');
      resolve(ms);
    });
    child.on('exit', (code) => (out.includes('listening on') ? undefined : reject(new Error(`exited ${code}: ${out}`))));
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const tsx = ['--import', 'tsx', 'src/server.ts'];
const caches: string[] = [];
const cache = () => {
  const dir = mkdtempSync(join(tmpdir(), 'threadql-tsx-cache-'));
  caches.push(dir);
  return dir;
};
const warmCache = cache();
const variants: { label: string; args: string[]; env: () => Record<string, string> }[] = [
  { label: 'npm start (tsx, cold compile cache)', args: tsx, env: () => ({ TMPDIR: cache() }) },
  { label: 'npm start (tsx, warm compile cache)', args: tsx, env: () => ({ TMPDIR: warmCache }) },
  { label: 'npm run start:prod (node dist/server.js)', args: ['dist/server.js'], env: () => ({}) },
];
try {
  await timeToListen(tsx, { TMPDIR: warmCache }); // fills the warm cache
  // Interleaved, so that a change in the machine's load falls on every variant alike.
  const times = variants.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) for (const [v, variant] of variants.entries()) times[v]!.push(await timeToListen(variant.args, variant.env()));
  const medians = times.map((t) => percentile(t, 50));
  variants.forEach((variant, v) => console.log(`${variant.label.padEnd(44)} median ${medians[v]!.toFixed(0)} ms  (${times[v]!.map((t) => t.toFixed(0)).join(', ')})`));
  console.log(`ratio: cold tsx / prod ${(medians[0]! / medians[2]!).toFixed(2)}x, warm tsx / prod ${(medians[1]! / medians[2]!).toFixed(2)}x`);
} finally {
  for (const dir of caches) rmSync(dir, { recursive: true, force: true });
}
