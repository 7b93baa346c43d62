import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { FigureResult } from './context.js';

/** Writes BENCHMARKS.md: the machine, the results table, then each figure's exact workload. */

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

const mark = (met: boolean | null) => (met === null ? '—' : met ? '✅' : '❌');

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

export function renderReport(info: RunInfo): string {
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  const env = Object.entries(info.threadqlEnv)
    .filter(([k]) => !['PATH', 'HOME'].includes(k))
    .map(([k, v]) => `${k}=${k === 'DATABASE_URL' ? '<temp dir>/threadql.db' : k === 'OPENAI_BASE_URL' ? '<fake provider>/v1' : v}`)
    .join(' ');
  const sections = info.figures.map((f) => {
    if (!f.result) return `### ${f.title}\n\nFailed:\n\n\`\`\`\n${f.error}\n\`\`\``;
    const notes = f.result.notes?.length ? `\n${f.result.notes.map((n) => `- ${n}`).join('\n')}` : '';
    return `### ${f.title}\n\n${f.result.workload.map((w) => `- ${w}`).join('\n')}${notes}`;
  });
  return `# threadql benchmarks

Written by \`npm run bench${info.quick ? ' -- --quick' : ''}\` (bench/run.ts) on ${info.date.toISOString()}; the run took ${info.seconds.toFixed(0)} s.${
    info.quick ? '\n\n**Quick mode**: reduced workloads (fewer runs, shorter durations, 500 subscriptions for figure 5, 100 streams for figure 6); use the full run for the record.' : ''
  }

## Machine

${machine().map((m) => `- ${m}`).join('\n')}
- Load average (1, 5, 15 min) before: ${load(info.loadBefore)}; after: ${load(info.loadAfter)}. The machine is shared: other processes' load shows in every figure; each goal is a ratio or a difference measured in the same run for that reason.
- Open files limit (hard; Node raises its soft limit to it): ${info.fileLimit}

## Results

Every figure compares threadql with its baseline measured in the same run, on the same provider.

${resultsTable(info)}

## How it runs

- **threadql** runs in a child process, \`node --import tsx --expose-gc bench/threadql-child.ts\`, which calls \`startServer(loadConfig())\` as \`npm start\` does, configured only by its environment:
  \`${env}\`.
  The limits raised from their defaults are only those a benchmark trips by design: the rate limits (one client sends thousands of requests per second), the messages per \`createThread\` and the body size (figure 8 builds its 10,000-message thread with one \`createThread\`). No API key exists, so the server is in open mode on loopback (authentication still runs on every request). The database is a SQLite file (WAL) in a temporary folder.
- **Baselines that need a server** (bare graphql-yoga \`{ hello }\`, the node:http SSE relay, idle SSE connections) run in a second child process started the same way with \`NODE_ENV=production\` (bench/baseline-child.ts).
- **The fake provider** (bench/provider.ts, the Responses-API streaming of test/fake-provider.ts with a hook that timestamps every delta as it is written), **the clients** (SSE on node:http, the openai SDK, autocannon) run in the bench process. Provider write times and client arrival times therefore come from one clock (\`performance.now()\` in one process).
- Server-side numbers (RSS, event-loop delay, transactions, CPU profiles with \`--profile\`) are read inside the server processes over IPC (bench/child-control.ts).
- 2 cores: while a figure runs, the bench process (provider + clients) and one server process are busy; the other server process is idle.

## Workloads

${sections.join('\n\n')}
`;
}
