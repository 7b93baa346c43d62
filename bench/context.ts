import { join } from 'node:path';
import type OpenAI from 'openai';
import type { Child } from './children.js';
import { gql } from './clients.js';
import type { BenchProvider } from './provider.js';
import { judge, type Goal } from './stats.js';

/** What every figure receives from bench/run.ts, and what it hands back for BENCHMARKS.md. */

export interface Bench {
  quick: boolean;
  provider: BenchProvider;
  threadql: Child<{ url: string }>;
  baseline: Child<{ yogaUrl: string; relayUrl: string; idleUrl: string }>;
  /** The openai SDK pointed straight at the provider (the "direct" baselines). */
  sdk: OpenAI;
  /** Set with --profile: CPU profiles of threadql per phase are written here. */
  profileDir: string | null;
  /** threadql's environment (a figure that starts its own threadql child starts from it). */
  threadqlEnv: Record<string, string>;
}

export interface Row {
  figure: string;
  metric: string;
  threadql: string;
  baseline: string;
  ratio: string;
  goal: string;
  /** The measured value the goal is about (an added latency, a ratio, a count). */
  check: string;
  /** null: reported, no goal. */
  met: boolean | null;
  /** The number `check` shows (NaN: not measured) and its format: for the median of several runs. */
  value: number;
  format: (x: number) => string;
}

export interface RowSpec {
  figure: string;
  metric: string;
  threadql: string;
  baseline: string;
  ratio: string;
  /** null: reported, no goal. */
  goal: Goal | null;
  value: number;
  format: (x: number) => string;
  /** A further condition of the goal (no failed request…). */
  alsoRequired?: boolean;
  /** Why the value was not measured (printed instead of it; a goal is then not met). */
  notMeasured?: string;
  /**
   * The threadql, baseline and ratio columns come from the same samples as the value (a
   * percentile of too few samples): when it was not measured they are not either, and print "—".
   */
  columnsFromValue?: boolean;
}

/** A results row whose check column and verdict come from its measured value alone. */
export function row(spec: RowSpec): Row {
  const value = spec.notMeasured ? NaN : spec.value;
  const blank = Boolean(spec.notMeasured && spec.columnsFromValue);
  return {
    figure: spec.figure,
    metric: spec.metric,
    threadql: blank ? '—' : spec.threadql,
    baseline: blank ? '—' : spec.baseline,
    ratio: blank ? '—' : spec.ratio,
    goal: spec.goal?.text ?? 'report',
    check: spec.notMeasured ? `not measured: ${spec.notMeasured}` : spec.format(value),
    met: judge(spec.goal, value, spec.alsoRequired ?? true),
    value,
    format: spec.format,
  };
}

export interface FigureResult {
  rows: Row[];
  /** The exact workload, one line each. */
  workload: string[];
  notes?: string[];
}

/** Profiles threadql during `fn` when --profile is on (bench/profile-top.ts reads the files). */
export async function profiled<T>(bench: Bench, name: string, fn: () => Promise<T>): Promise<T> {
  if (!bench.profileDir) return fn();
  await bench.threadql.call('profileStart');
  try {
    return await fn();
  } finally {
    const file = await bench.threadql.call<string>('profileStop', join(bench.profileDir, `${name}.cpuprofile`));
    console.log(`  profile: ${file}`);
  }
}

// ---- threadql operations the figures share ----

export const THREAD_EVENTS = /* GraphQL */ `
  subscription ($t: ID!) { threadEvents(threadId: $t) {
    __typename ... on MessageDeltaEvent { delta } ... on RunStatusEvent { run { status } } } }`;

export const MESSAGES_LAST_20 = /* GraphQL */ `
  query ($id: ID!) { thread(id: $id) { messages(last: 20) { edges { node { id role content } } } } }`;

export const SEND = /* GraphQL */ `
  mutation ($t: ID!, $c: String!) { sendMessage(input: { threadId: $t, content: $c }) { run { id } } }`;

export async function createThread(url: string, messages: { role: 'USER' | 'ASSISTANT'; content: string }[] = []): Promise<string> {
  const data = await gql(url, `mutation ($m: [ThreadMessageInput!]) { createThread(input: { messages: $m }) { thread { id } } }`, {
    m: messages,
  });
  return data.createThread.thread.id as string;
}

/** `n` alternating USER/ASSISTANT messages ending with ASSISTANT (so no run starts). */
export function conversation(n: number): { role: 'USER' | 'ASSISTANT'; content: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    role: (n - i) % 2 === 1 ? 'ASSISTANT' : 'USER',
    content: `Message ${i}: a short chat turn of an ordinary length.`,
  }));
}

export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE']);
