import { describe, expect, it } from 'vitest';
import { startEld } from '../bench/child-control.js';
import { row, type Row } from '../bench/context.js';
import { lateRow } from '../bench/fanout.js';
import { summaryTable, type RunInfo } from '../bench/report.js';
import {
  NO_SAMPLES,
  atLeast,
  atMost,
  fmtAdded,
  fmtInt,
  fmtKb,
  fmtMs,
  fmtPct,
  fmtPerSecond,
  fmtRatio,
  fmtRatioOf,
  fmtUs,
  judge,
  median,
  per,
  percentile,
  ratio,
  tooFewSamples,
} from '../bench/stats.js';
import { analyse } from '../bench/streams.js';

/**
 * The bench's numbers: a value it did not measure (no samples, a zero baseline, an empty window)
 * must print as such and never meet a goal. Pure functions only: no server starts here.
 */

const goalRow = (value: number, extra: Partial<Parameters<typeof row>[0]> = {}) =>
  row({ figure: '0', metric: 'm', threadql: '', baseline: '', ratio: '', goal: atMost(5, '≤ 5 ms'), value, format: fmtMs, ...extra });

describe('bench stats', () => {
  it('a percentile over no samples is NaN, and prints as "no samples", not 0', () => {
    expect(percentile([], 99)).toBeNaN();
    for (const format of [fmtMs, fmtInt, fmtRatio, fmtKb, fmtPct, fmtPerSecond, fmtUs, fmtAdded]) expect(format(NaN)).toBe(NO_SAMPLES);
    expect(fmtMs(0)).toBe('0.00 ms');
    expect(percentile([3, 1, 2], 50)).toBe(2);
  });

  it('a ratio with a zero or missing baseline, a rate over no time, do not exist', () => {
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(1, NaN)).toBeNaN();
    expect(ratio(NaN, 2)).toBeNaN();
    expect(ratio(1, 2)).toBe(0.5);
    expect(ratio(-6, 6)).toBeNaN();
    expect(fmtRatioOf(1, 0)).toBe('—');
    expect(fmtRatioOf(-6, 6)).toBe('—');
    expect(fmtRatioOf(NaN, 6)).toBe(NO_SAMPLES);
    expect(fmtRatioOf(3, 6)).toBe('0.50×');
    expect(per(10, 0)).toBeNaN();
    expect(per(0, 0)).toBeNaN();
    expect(per(10, 4)).toBe(2.5);
  });

  it('a percentile needs enough samples to be more than their maximum', () => {
    expect(tooFewSamples(0, 50)).toBe(NO_SAMPLES);
    expect(tooFewSamples(15, 99)).toMatch(/only 15 samples/);
    expect(tooFewSamples(100, 99)).toBeUndefined();
    expect(tooFewSamples(2, 50)).toBeUndefined();
  });

  it('a value not measured meets no goal; a report row has no verdict', () => {
    expect(judge(atMost(5, ''), NaN)).toBe(false);
    expect(judge(atLeast(0.5, ''), NaN)).toBe(false);
    expect(judge(atMost(5, ''), Infinity)).toBe(false);
    expect(judge(atMost(5, ''), 4)).toBe(true);
    expect(judge(atMost(5, ''), 4, false)).toBe(false);
    expect(judge(null, NaN)).toBeNull();

    const empty = goalRow(NaN);
    expect(empty.check).toBe(NO_SAMPLES);
    expect(empty.met).toBe(false);
    const why = goalRow(1, { notMeasured: 'no steady part' });
    expect(why.check).toBe('not measured: no steady part');
    expect(why.met).toBe(false);
    expect(goalRow(1).met).toBe(true);
    expect(goalRow(NaN, { goal: null }).met).toBeNull();
    // A percentile of too few samples: its columns are not shown either.
    const few = goalRow(3, { threadql: '3.00 ms', notMeasured: tooFewSamples(10, 99), columnsFromValue: true });
    expect(few.threadql).toBe('—');
    expect(few.met).toBe(false);
  });

  it('an event-loop window with no tick has no delay, not 0 ms', () => {
    const stop = startEld();
    const eld = stop();
    expect(eld.samples).toBe(0);
    expect(eld.p99).toBeNaN();
    expect(eld.max).toBeNaN();
  });

  it('a round with no frame has no window and no first token', () => {
    const s = analyse(new Map([['k', []]]), new Map([['k', [1, 2]]]), 2);
    expect(s.windowMs).toBeNaN();
    expect(s.ttft).toEqual([]);
    expect(s.delivered).toBe(0);
  });

  it('late frames are judged against the relay in the same run, a zero share included', () => {
    expect(lateRow(0.01, 0.01).met).toBe(true);
    expect(lateRow(0.03, 0.01).met).toBe(false);
    // The relay had none: threadql meets "≤ 2× relay" only with none too.
    expect(lateRow(0, 0).met).toBe(true);
    const over = lateRow(0.001, 0);
    expect(over.met).toBe(false);
    expect(over.check).toMatch(/relay none/);
    const unmeasured = lateRow(NaN, 0.01);
    expect(unmeasured.met).toBe(false);
    expect(unmeasured.check).toMatch(/^not measured/);
  });

  it('across runs: the median of the measured runs, each run\'s verdict, never a median of nothing', () => {
    expect(median([3, NaN, 1])).toBe(2);
    expect(median([NaN, NaN])).toBeNaN();
    const info = (rows: Row[]): RunInfo => ({
      quick: false,
      date: new Date(0),
      seconds: 1,
      loadBefore: [],
      loadAfter: [],
      threadqlEnv: {},
      fileLimit: '1',
      figures: [{ title: 'Figure 0', result: { rows, workload: [] } }],
    });
    const table = summaryTable([info([goalRow(2), goalRow(NaN)]), info([goalRow(4), goalRow(NaN)]), info([goalRow(9), goalRow(NaN)])]);
    const [, , measured, unmeasured] = table.split('\n');
    expect(measured).toContain('| 4.00 ms |');
    expect(measured).toMatch(/2\.00 ms ✅ \| 4\.00 ms ✅ \| 9\.00 ms ❌ \| ❌ \|$/);
    expect(unmeasured).toContain(`| ${NO_SAMPLES} |`);
    expect(unmeasured).toMatch(/❌ \| ❌ \|$/);
    const failedRun = summaryTable([info([goalRow(2)]), { ...info([]), figures: [{ title: 'Figure 0', result: null, error: 'boom' }] }]);
    expect(failedRun.split('\n')[2]).toMatch(/\(1 of 2 runs measured\) \| 2\.00 ms ✅ \| failed ❌ \| ❌ \|$/);
  });
});
