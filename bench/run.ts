import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { openFilesLimit, projectRoot, startChild } from './children.js';
import type { Bench, FigureResult } from './context.js';
import { measureFanout } from './fanout.js';
import { measureLongThread } from './long-thread.js';
import { measureMemory } from './memory.js';
import { topSelfTime } from './profile-top.js';
import { startBenchProvider } from './provider.js';
import { renderReport, renderRuns, resultsTable, summaryTable, type RunInfo } from './report.js';
import { measureStorage } from './storage.js';
import { measureRedisHop } from './redis-hop.js';
import { measureClusterThroughput } from './cluster-throughput.js';
import { measureQueryThroughput, measureRunThroughput } from './throughput.js';
import { measureTtft } from './ttft.js';
import { measureV1Stream } from './v1-stream.js';

/**
 * `npm run bench` — threadql against its baselines, in one run, written to BENCHMARKS.md.
 *
 *   npm run bench                  full run (< 4 min), writes BENCHMARKS.md
 *   npm run bench -- --runs 3      three full runs, each with fresh children and databases: every run's
 *                                  table, and per row the median and whether the goal was met in each run
 *   npm run bench -- --quick       reduced workloads (< 1 min), writes <tmp>/BENCHMARKS.quick.md
 *   npm run bench -- --only 1,6    only these figures (development)
 *   npm run bench -- --profile     also CPU-profile threadql per phase, print the top functions
 *   npm run bench -- --out FILE    write the report elsewhere
 *
 * The quick mode never overwrites BENCHMARKS.md: that file holds full runs.
 */

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const quick = flag('--quick');
const only = option('--only')?.split(',');
const runs = Number(option('--runs') ?? 1);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs takes a whole number ≥ 1, not ${option('--runs')}`);

// Figure 5 first: the server's memory is then its own, not what earlier figures left behind.
const FIGURES: { ids: string[]; title: string; run: (bench: Bench) => Promise<FigureResult> }[] = [
  { ids: ['5'], title: 'Figure 5: memory per idle subscription', run: measureMemory },
  { ids: ['1', '2'], title: 'Figures 1 and 2: time to first token, gaps between chunks', run: measureTtft },
  { ids: ['3'], title: 'Figure 3: query throughput', run: measureQueryThroughput },
  { ids: ['4'], title: 'Figure 4: completed runs per second', run: measureRunThroughput },
  { ids: ['6'], title: 'Figure 6: concurrent streams', run: measureFanout },
  { ids: ['7'], title: 'Figure 7: transactions per reply, event-loop delay', run: measureStorage },
  { ids: ['8'], title: 'Figure 8: the latest page of a long thread', run: measureLongThread },
  { ids: ['9'], title: 'Figure 9: the Assistants API (/v1) stream', run: measureV1Stream },
  { ids: ['10'], title: 'Figure 10: the Redis hop between instances', run: measureRedisHop },
  { ids: ['11'], title: 'Figure 11: two instances against one (runs/s, frames/s)', run: measureClusterThroughput },
];

/** One run: a fresh provider, fresh children and a fresh database, every selected figure once. */
async function runOnce(tmp: string, profileDir: string | null): Promise<RunInfo> {
  const started = performance.now();
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const loadBefore = os.loadavg();

  const provider = await startBenchProvider();
  // Only what the children need: nothing of the caller's OPENAI_*, DATABASE_URL, PORT… leaks in.
  const common = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', OPENAI_BASE_URL: provider.url, OPENAI_API_KEY: 'sk-bench-0123456789' };
  const threadqlEnv = {
    ...common,
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: join(tmp, 'threadql.db'),
    LLM_API: 'responses',
    DEFAULT_MODEL: 'bench-model',
    RATE_LIMIT_REQUESTS: '1000000000',
    RATE_LIMIT_RUNS: '1000000000',
    MAX_THREAD_MESSAGES: '10000',
    // Figure 5 holds 5,000 subscriptions of one caller (open mode): above the default cap of 1,000.
    MAX_SUBSCRIPTIONS_PER_OWNER: '100000',
    MAX_BODY_BYTES: String(4 * 1024 * 1024),
  };
  const [threadql, baseline] = await Promise.all([
    startChild<{ url: string }>('./threadql-child.ts', threadqlEnv),
    startChild<{ yogaUrl: string; relayUrl: string; idleUrl: string }>('./baseline-child.ts', common),
  ]);
  const bench: Bench = {
    quick,
    provider,
    threadql,
    baseline,
    sdk: new OpenAI({ baseURL: provider.url, apiKey: common.OPENAI_API_KEY }),
    profileDir,
    threadqlEnv,
  };

  const info: RunInfo = {
    quick,
    date: new Date(),
    seconds: 0,
    loadBefore,
    loadAfter: [],
    threadqlEnv,
    fileLimit: String(openFilesLimit()),
    figures: [],
  };
  try {
    for (const figure of FIGURES) {
      if (only && !figure.ids.some((id) => only.includes(id))) continue;
      const t0 = performance.now();
      process.stdout.write(`${figure.title}… `);
      try {
        info.figures.push({ title: figure.title, result: await figure.run(bench) });
        console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (err) {
        console.log('failed');
        console.error(err);
        info.figures.push({ title: figure.title, result: null, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    }
  } finally {
    await Promise.all([threadql.stop(), baseline.stop()]);
    await provider.close();
  }

  // Run in the order above, reported by figure number.
  const firstId = (title: string) => Number(FIGURES.find((f) => f.title === title)!.ids[0]);
  info.figures.sort((a, b) => firstId(a.title) - firstId(b.title));
  info.seconds = (performance.now() - started) / 1000;
  info.loadAfter = os.loadavg();
  return info;
}

async function main(): Promise<void> {
  const started = performance.now();
  const tmp = mkdtempSync(join(os.tmpdir(), 'threadql-bench-'));
  const profileRoot = flag('--profile') ? join(tmp, 'profiles') : null;
  const infos: RunInfo[] = [];
  for (let i = 1; i <= runs; i++) {
    if (runs > 1) console.log(`\nRun ${i} of ${runs}`);
    const runTmp = join(tmp, `run-${i}`);
    mkdirSync(runTmp);
    const profileDir = profileRoot && (runs > 1 ? join(profileRoot, `run-${i}`) : profileRoot);
    const info = await runOnce(runTmp, profileDir);
    infos.push(info);
    if (runs > 1) console.log(`\n${resultsTable(info)}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const out = option('--out') ?? (quick ? join(os.tmpdir(), 'BENCHMARKS.quick.md') : join(projectRoot, 'BENCHMARKS.md'));
  writeFileSync(out, runs === 1 ? renderReport(infos[0]!) : renderRuns(infos, seconds));
  console.log(`\n${runs === 1 ? resultsTable(infos[0]!) : summaryTable(infos)}\n\nWritten to ${out} (${seconds.toFixed(0)} s).`);

  if (profileRoot) {
    for (let i = 0; i < infos.length; i++) {
      const dir = runs > 1 ? join(profileRoot, `run-${i + 1}`) : profileRoot;
      for (const file of readdirSync(dir).sort()) {
        console.log(`\nTop self time in threadql, ${runs > 1 ? `run ${i + 1}, ` : ''}${file}:`);
        console.log(topSelfTime(join(dir, file), 25));
      }
    }
    console.log(`\nProfiles kept in ${profileRoot}`);
  } else {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(infos.some((info) => info.figures.some((f) => !f.result)) ? 1 : 0);
}

await main();
