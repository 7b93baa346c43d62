/**
 * Percentiles, ratios and the numbers' formats in BENCHMARKS.md. A value that was not measured
 * (no samples, a zero or missing baseline, a window of zero length) is NaN everywhere, prints
 * as "no samples" and never meets a goal: a report must not show a number it did not measure.
 */

export const NO_SAMPLES = 'no samples';

export const measured = (x: number) => Number.isFinite(x);

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Samples a nearest-rank p-th percentile needs to be more than the largest one: 100 for p99, 2 for p50. */
export const samplesNeeded = (p: number) => Math.ceil(100 / (100 - p));

/** Why a p-th percentile of `n` samples is not a measurement (none, or too few), or undefined. */
export function tooFewSamples(n: number, p: number): string | undefined {
  if (n === 0) return NO_SAMPLES;
  const needed = samplesNeeded(p);
  return n < needed ? `only ${n} samples (a p${p} needs ≥ ${needed})` : undefined;
}

export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** The median of the measured values (±Infinity, a verdict beyond any ratio, counts); NaN when none was measured. */
export function median(xs: number[]): number {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * a / b; NaN when either was not measured, or the baseline is zero or below, or a is below
 * zero (a difference that can be negative, such as a gap beyond the provider's, has no ratio).
 */
export const ratio = (a: number, b: number) => (measured(a) && measured(b) && b > 0 && a >= 0 ? a / b : NaN);

/** A count per unit (frames per second, bytes per subscription); NaN over zero units. */
export const per = (amount: number, units: number) => (measured(amount) && measured(units) && units > 0 ? amount / units : NaN);

const fmt = (x: number, show: (x: number) => string) => (measured(x) ? show(x) : NO_SAMPLES);
export const fmtMs = (x: number) => fmt(x, (v) => `${v.toFixed(2)} ms`);
export const fmtInt = (x: number) => fmt(x, (v) => Math.round(v).toLocaleString('en-US'));
export const fmtRatio = (x: number) => fmt(x, (v) => `${v.toFixed(2)}×`);
export const fmtKb = (bytes: number) => fmt(bytes, (v) => `${(v / 1024).toFixed(1)} KB`);
export const fmtPct = (x: number) => fmt(x, (v) => `${(v * 100).toFixed(2)} %`);
export const fmtPerSecond = (x: number) => fmt(x, (v) => `${Math.round(v).toLocaleString('en-US')}/s`);
export const fmtUs = (ms: number) => fmt(ms, (v) => `${Math.round(v * 1000)} µs`);
/** A latency threadql adds over its baseline. */
export const fmtAdded = (x: number) => fmt(x, (v) => `added ${v.toFixed(2)} ms`);

/** What a row's measured value must satisfy. */
export interface Goal {
  text: string;
  test: (x: number) => boolean;
}

export const atMost = (limit: number, text: string): Goal => ({ text, test: (x) => x <= limit });
export const atLeast = (limit: number, text: string): Goal => ({ text, test: (x) => x >= limit });

/** null: reported, no goal. A value not measured meets no goal, whatever the test says. */
export function judge(goal: Goal | null, value: number, alsoRequired = true): boolean | null {
  if (!goal) return null;
  return measured(value) && alsoRequired && goal.test(value);
}

/** The ratio column: "no samples" when a side was not measured, "—" when both were but no ratio exists (a zero baseline, a negative difference). */
export const fmtRatioOf = (a: number, b: number) => (measured(a) && measured(b) && Number.isNaN(ratio(a, b)) ? '—' : fmtRatio(ratio(a, b)));
