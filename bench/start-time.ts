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

async function measure(label: string, args: string[], env: () => Record<string, string>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await timeToListen(args, env()));
  const m = percentile(times, 50);
  console.log(`${label.padEnd(44)} median ${m.toFixed(0)} ms  (${times.map((t) => t.toFixed(0)).join(', ')})`);
  return m;
}

const tsx = ['--import', 'tsx', 'src/server.ts'];
const warmCache = mkdtempSync(join(tmpdir(), 'threadql-tsx-cache-'));
const freshCaches: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'threadql-tsx-cache-'));
  freshCaches.push(dir);
  return { TMPDIR: dir };
};
try {
  const cold = await measure('npm start (tsx, cold compile cache)', tsx, fresh);
  await timeToListen(tsx, { TMPDIR: warmCache }); // fills the cache
  const warm = await measure('npm start (tsx, warm compile cache)', tsx, () => ({ TMPDIR: warmCache }));
  const prod = await measure('npm run start:prod (node dist/server.js)', ['dist/server.js'], () => ({}));
  console.log(`ratio: cold tsx / prod ${(cold / prod).toFixed(2)}x, warm tsx / prod ${(warm / prod).toFixed(2)}x`);
} finally {
  for (const dir of [warmCache, ...freshCaches]) rmSync(dir, { recursive: true, force: true });
}
