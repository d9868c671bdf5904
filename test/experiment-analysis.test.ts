import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { analyseExperiment, FIXED_HORIZON_NOTE } from '../src/experiments/analysis.js';
import { ExperimentRecord } from '../src/experiments/experiment-book.js';
import { compileExperimentPlan } from '../src/experiments/plan.js';
import { formatExperimentReport } from '../src/experiments/format-report.js';

const config = validateConfig({
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
  experiments: [{ key: 'checkout', route: 'shop', minUsersPerArm: 100, conversions: [{ name: 'order', header: true }, { name: 'signup', header: true }] }],
});
const experiment = compileExperimentPlan(config).all[0];

function recordWith(a: [users: number, converters: number], b: [users: number, converters: number]): ExperimentRecord {
  const record = new ExperimentRecord('checkout', 1000);
  record.arms[0].users = a[0];
  record.arms[1].users = b[0];
  record.conversion(0, 'order').converters = a[1];
  record.conversion(1, 'order').converters = b[1];
  return record;
}

describe('analyseExperiment', () => {
  it('is collecting below minUsersPerArm, and leaves the running minimum alone', () => {
    const record = recordWith([99, 10], [105, 60]);
    const { report, minimumPValues } = analyseExperiment(experiment, record, 50);
    expect(report.verdict).toBe('collecting: A 99, B 105 of 100 users per arm');
    expect(report.winner).toBeNull();
    expect(minimumPValues.get('order')).toBe(1);
  });

  it('declares SRM before anything else, and no winner', () => {
    // 50/50 configured, 1 000 vs 1 200 users: chi-squared 18.2, p ≈ 2e-5. B also converts far better.
    const { report } = analyseExperiment(experiment, recordWith([1000, 100], [1200, 400]), 50);
    expect(report.sampleRatio.mismatch).toBe(true);
    expect(report.sampleRatio.chiSquared).toBeCloseTo(18.18, 2);
    expect(report.verdict).toMatch(/^SRM detected: users per arm \(A 1000, B 1200\) do not match the configured split \(p = 2\.0e-5\); no winner is declared$/);
    expect(report.winner).toBeNull();
    // The same counts are no mismatch against a 45/55 split.
    expect(analyseExperiment(experiment, recordWith([1000, 100], [1200, 400]), 54.55).report.verdict).toMatch(/^B wins: \+233\.3 % /);
  });

  it('names B the winner with the lift and its interval when the always-valid p is below alpha', () => {
    const { report } = analyseExperiment(experiment, recordWith([5000, 500], [5000, 650]), 50);
    const order = report.conversions[0];
    expect(order.alwaysValid.lift).toBeCloseTo(0.3, 10);
    expect(order.alwaysValid.pValue).toBeLessThan(0.05);
    expect(order.alwaysValid.liftInterval![0]).toBeGreaterThan(0);
    expect(report.verdict).toMatch(/^B wins: \+30 % \(95 % CI \+\d+(\.\d)? % to \+\d+(\.\d)? %, always-valid p = [\d.e-]+\)$/);
    expect(report.winner).toBe('B');
    expect(order.fixedHorizon.note).toBe(FIXED_HORIZON_NOTE);
    expect(order.fixedHorizon.pValue).toBeLessThan(order.alwaysValid.pValue);
    expect(report.conversions[1].verdict).toMatch(/^no difference so far \(lift n\/a/);
  });

  it('says A wins when B converts worse', () => {
    const { report } = analyseExperiment(experiment, recordWith([5000, 650], [5000, 500]), 50);
    expect(report.verdict).toMatch(/^A wins: B −23\.1 % /);
    expect(report.winner).toBe('A');
  });

  it('keeps the always-valid p as a running minimum across looks', () => {
    const record = recordWith([2000, 200], [2000, 260]);
    const first = analyseExperiment(experiment, record, 50);
    for (const [name, p] of first.minimumPValues) record.minimumPValues.set(name, p);
    // The difference fades at the next look: this look's p is higher, the reported one is not.
    record.arms[0].users = record.arms[1].users = 4000;
    record.conversion(0, 'order').converters = 400;
    record.conversion(1, 'order').converters = 410;
    const second = analyseExperiment(experiment, record, 50).report.conversions[0].alwaysValid;
    expect(second.pValueThisLook).toBeGreaterThan(first.report.conversions[0].alwaysValid.pValue);
    expect(second.pValue).toBe(first.report.conversions[0].alwaysValid.pValue);
  });

  it('reads as text for the CLI', () => {
    const text = formatExperimentReport(analyseExperiment(experiment, recordWith([5000, 500], [5000, 650]), 50).report);
    expect(text).toContain('checkout (route shop): B wins: +30 %');
    expect(text).toContain('users: A (stable) 5000, expected 50 %; B (canary) 5000, expected 50 %; sample-ratio p = 1');
    expect(text).toContain('order: A 500/5000 = 10 %, B 650/5000 = 13 %');
    expect(text).toContain(`fixed-horizon z-test: p = `);
  });
});
