import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { FigureResult, Row } from './context.js';
import { median, NO_SAMPLES } from './stats.js';

/**
 * Writes BENCHMARKS.md: the machine, the results table, then each figure's exact workload. With
 * several runs (--runs N): a summary (per row, the median of the runs and the verdict of each
 * run), then every run's own table and workloads.
 */

export interface RunInfo {
  quick: boolean;
  date: Date;
  seconds: number;
  loadBefore: number[];
  loadAfter: number[];
  threadqlEnv: Record<string, string>;
  fileLimit: string;
  figures: { title: string; result: FigureResult | null; error?: string }[];
}

export function machine(): string[] {
  const cpus = os.cpus();
  return [
    `CPU: ${cpus[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores`,
    `Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `Node.js: ${process.version}`,
    `threadql: commit ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src').trim() ? ' with uncommitted changes in src/' : ''}`,
  ];
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export const mark = (met: boolean | null) => (met === null ? '—' : met ? '✅' : '❌');

export function resultsTable(info: RunInfo): string {
  const lines = [
    '| # | figure | threadql | baseline (same run) | ratio | goal | measured | met |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of info.figures) {
    if (!f.result) {
      lines.push(`| ${f.title} | failed: ${f.error?.split('\n')[0] ?? 'unknown'} | | | | | | ❌ |`);
      continue;
    }
    for (const r of f.result.rows) {
      lines.push(`| ${r.figure} | ${r.metric} | ${r.threadql} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.check} | ${mark(r.met)} |`);
    }
  }
  return lines.join('\n');
}

const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');

function workloads(info: RunInfo, level = '###'): string {
  return info.figures
    .map((f) => {
      if (!f.result) return `${level} ${f.title}\n\nFailed:\n\n\`\`\`\n${f.error}\n\`\`\``;
      const notes = f.result.notes?.length ? `\n${f.result.notes.map((n) => `- ${n}`).join('\n')}` : '';
      return `${level} ${f.title}\n\n${f.result.workload.map((w) => `- ${w}`).join('\n')}${notes}`;
    })
    .join('\n\n');
}

const quickNote = (quick: boolean) =>
  quick
    ? '\n\n**Quick mode**: reduced workloads (fewer runs, shorter durations, 500 subscriptions for figure 5, 100 streams for figure 6); a row whose percentile has too few samples says so and does not meet its goal. Use the full run for the record.'
    : '';

function machineSection(first: RunInfo, runs: RunInfo[]): string {
  const loads = runs.map((r, i) => `${runs.length > 1 ? `run ${i + 1}: ` : ''}before ${load(r.loadBefore)}; after ${load(r.loadAfter)}`).join('; ');
  return `## Machine

${machine().map((m) => `- ${m}`).join('\n')}
- Load average (1, 5, 15 min): ${loads}. The machine is shared: other processes' load shows in every figure; each goal is a ratio or a difference measured in the same run for that reason.
- Open files limit (hard; Node raises its soft limit to it): ${first.fileLimit}`;
}

function howItRuns(info: RunInfo): string {
  const env = Object.entries(info.threadqlEnv)
    .filter(([k]) => !['PATH', 'HOME'].includes(k))
    .map(([k, v]) => `${k}=${k === 'DATABASE_URL' ? '<temp dir>/threadql.db' : k === 'OPENAI_BASE_URL' ? '<fake provider>/v1' : v}`)
    .join(' ');
  return `## How it runs

- **threadql** runs in a child process, \`node --import tsx --expose-gc bench/threadql-child.ts\`, which calls \`startServer(loadConfig())\` as \`npm start\` does, configured only by its environment:
  \`${env}\`.
  The limits raised from their defaults are only those a benchmark trips by design: the rate limits (one client sends thousands of requests per second), the messages per \`createThread\` and the body size (figure 8 builds its 10,000-message thread with one \`createThread\`), the subscriptions per caller (figure 5 holds 5,000; the default cap is 1,000). No API key exists, so the server is in open mode on loopback (authentication still runs on every request). The database is a SQLite file (WAL) in a temporary folder. Figure 4's PostgreSQL row starts a second such child with DATABASE_URL a fresh PostgreSQL database (dropped after); figures 10 and 11 start \`src/server.ts\` processes on PostgreSQL and Redis.
- **Baselines that need a server** (bare graphql-yoga \`{ hello }\`, the node:http SSE relay, idle SSE connections) run in a second child process started the same way with \`NODE_ENV=production\` (bench/baseline-child.ts).
- **The fake provider** (bench/provider.ts, the Responses-API streaming of test/fake-provider.ts with a hook that timestamps every delta as it is written), **the clients** (SSE on node:http, WebSocket on ws, the openai SDK, autocannon) run in the bench process. Provider write times and client arrival times therefore come from one clock (\`performance.now()\` in one process).
- Server-side numbers (RSS, event-loop delay, transactions, open subscriptions, CPU profiles with \`--profile\`) are read inside the server processes over IPC (bench/child-control.ts).
- A value that was not measured (a percentile over no samples, or over too few to be more than their maximum; a ratio with a zero or missing baseline; a window of zero length; a steady part that did not occur) prints "no samples" or "not measured: why", and a row with a goal then does not meet it.
- 2 cores: while a figure runs, the bench process (provider + clients) and one server process are busy; the other server process is idle.`;
}

export function renderReport(info: RunInfo): string {
  return `# threadql benchmarks

Written by \`npm run bench${info.quick ? ' -- --quick' : ''}\` (bench/run.ts) on ${info.date.toISOString()}; the run took ${info.seconds.toFixed(0)} s.${quickNote(info.quick)}

${machineSection(info, [info])}

## Results

Every figure compares threadql with its baseline measured in the same run, on the same provider.

${resultsTable(info)}

${howItRuns(info)}

## Workloads

${workloads(info)}
`;
}

/** One results row across the runs: the row of each run (null where its figure failed or lacks it). */
interface RowAcrossRuns {
  first: Row;
  perRun: (Row | null)[];
}

function rowsAcrossRuns(infos: RunInfo[]): RowAcrossRuns[] {
  const byKey = new Map<string, RowAcrossRuns>();
  infos.forEach((info, run) => {
    for (const f of info.figures) {
      f.result?.rows.forEach((r, i) => {
        const key = `${f.title}#${i}`;
        let entry = byKey.get(key);
        if (!entry) byKey.set(key, (entry = { first: r, perRun: infos.map(() => null) }));
        entry.perRun[run] = r;
      });
    }
  });
  return [...byKey.values()];
}

/** Per row: the goal, the median of the runs' measured values, each run's value and verdict. */
export function summaryTable(infos: RunInfo[]): string {
  const n = infos.length;
  const lines = [
    `| # | figure | goal | median of ${n} runs | ${infos.map((_, i) => `run ${i + 1}`).join(' | ')} | met in every run |`,
    `| --- | --- | --- | --- | ${infos.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const { first, perRun } of rowsAcrossRuns(infos)) {
    const values = perRun.map((r) => r?.value ?? NaN);
    const counted = values.filter((v) => !Number.isNaN(v)).length;
    const mid = median(values);
    const medianText = counted === 0 ? NO_SAMPLES : `${first.format(mid)}${counted < n ? ` (${counted} of ${n} runs measured)` : ''}`;
    const cells = perRun.map((r) => (r ? `${r.check} ${mark(r.met)}` : 'failed ❌'));
    const hasGoal = perRun.some((r) => r === null || r.met !== null);
    const everyRun = hasGoal ? perRun.every((r) => r?.met === true) : null;
    lines.push(`| ${first.figure} | ${first.metric} | ${first.goal} | ${medianText} | ${cells.join(' | ')} | ${mark(everyRun)} |`);
  }
  // A figure that failed in every run has no row to carry it: name it.
  const titles = new Set(infos.flatMap((info) => info.figures.map((f) => f.title)));
  for (const title of titles) {
    if (infos.every((info) => !info.figures.find((f) => f.title === title)?.result)) {
      lines.push(`| ${title} | failed in every run | | | ${infos.map(() => 'failed ❌').join(' | ')} | ❌ |`);
    }
  }
  return lines.join('\n');
}

export function renderRuns(infos: RunInfo[], seconds: number): string {
  const first = infos[0]!;
  const runSections = infos.map(
    (info, i) => `### Run ${i + 1} (${info.date.toISOString()}, ${info.seconds.toFixed(0)} s)

${resultsTable(info)}

<details><summary>Run ${i + 1}: workloads and the numbers behind each row</summary>

${workloads(info, '####')}

</details>`,
  );
  return `# threadql benchmarks

Written by \`npm run bench --${first.quick ? ' --quick' : ''} --runs ${infos.length}\` (bench/run.ts) on ${first.date.toISOString()}; the ${infos.length} runs took ${seconds.toFixed(0)} s. Each run starts its own provider, threadql and baseline children and databases.${quickNote(first.quick)}

${machineSection(first, infos)}

## Results over ${infos.length} runs

Per row: the goal, the median of the runs' measured values (the value the goal is about), and each run's value with its verdict. Every value compares threadql with its baseline measured in the same run.

${summaryTable(infos)}

## Each run

${runSections.join('\n\n')}

${howItRuns(first)}
`;
}
