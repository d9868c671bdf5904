import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import type { RolloutCheckConfig } from '../src/config/schema.js';
import { DURATION_BUCKETS } from '../src/metrics/metrics.js';
import type { WindowSnapshot } from '../src/metrics/rolling-window.js';
import { evaluateCheck, windowVerdict, type WindowInputs } from '../src/rollout/checks.js';
import { compareErrorRates, normalCdf } from '../src/rollout/statistics.js';

describe('compareErrorRates (one-sided two-proportion z-test)', () => {
  it('a 2x error rate on 30 requests is inconclusive; the same ratio on 5 000 requests fails', () => {
    const stable = { errors: 500, total: 10_000 }; // 5 %
    expect(compareErrorRates({ errors: 3, total: 30 }, stable, 0.005).verdict).toBe('inconclusive');
    expect(compareErrorRates({ errors: 500, total: 5_000 }, stable, 0.005).verdict).toBe('fail');
  });

  it('within the margin passes, whatever the sample', () => {
    expect(compareErrorRates({ errors: 52, total: 10_000 }, { errors: 50, total: 10_000 }, 0.005).verdict).toBe('pass');
    expect(compareErrorRates({ errors: 0, total: 1_000 }, { errors: 0, total: 1_000 }, 0).verdict).toBe('pass');
    expect(compareErrorRates({ errors: 0, total: 100 }, { errors: 10, total: 100 }, 0).verdict).toBe('pass');
  });

  it('borderline significance follows the confidence level', () => {
    // canary 2 % on 2 000 against stable 1 % on 20 000, margin 0: z ≈ 3.1, significant at 95 % but not at 99.99 %.
    const canary = { errors: 40, total: 2_000 };
    const stable = { errors: 200, total: 20_000 };
    const result = compareErrorRates(canary, stable, 0);
    expect(result.z).toBeGreaterThan(3);
    expect(result.z).toBeLessThan(3.3);
    expect(compareErrorRates(canary, stable, 0, 0.95).verdict).toBe('fail');
    expect(compareErrorRates(canary, stable, 0, 0.9999).verdict).toBe('inconclusive');
  });

  it('no requests is inconclusive, never a pass', () => {
    expect(compareErrorRates({ errors: 0, total: 0 }, { errors: 0, total: 100 }, 0).verdict).toBe('inconclusive');
  });

  it('normalCdf matches the table', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.644854)).toBeCloseTo(0.95, 6);
    expect(normalCdf(-1.959964)).toBeCloseTo(0.025, 6);
    expect(normalCdf(Infinity)).toBe(1);
  });
});

function snapshot(requests: number, errors: number, latencySeconds: number): WindowSnapshot {
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  let index = DURATION_BUCKETS.findIndex((bound) => latencySeconds <= bound);
  if (index === -1) index = DURATION_BUCKETS.length;
  buckets[index] = requests;
  return { seconds: 30, requests, errors, buckets };
}

function checksOf(checks: unknown[]): RolloutCheckConfig[] {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2', m: 'http://127.0.0.1:3' },
    routes: [{ name: 'api', stable: 's', canary: 'c', mirror: { to: 'm', percent: 1 }, rollout: { stepWeights: [10], checks } }],
  });
  return config.routes[0].rollout!.checks;
}

const HEALTHY: WindowInputs = { canary: snapshot(1_000, 2, 0.004), stable: snapshot(9_000, 18, 0.004), mirror: { compared: 100, matched: 100 }, queries: {} };

describe('evaluateCheck', () => {
  const [successRate, latency, mirror, query] = checksOf([
    { metric: 'success-rate', min: 99, vsStable: { maxDegradation: 0.5 } },
    { metric: 'latency-p99', max: '500ms', vsStable: { maxRatio: 1.2 } },
    { metric: 'mirror-match-rate', min: 99 },
    { name: 'checkout-errors', prometheus: { address: 'http://127.0.0.1:9090', query: 'x' }, max: 1 },
  ]);

  it('a healthy window passes every check, with values, thresholds and sample sizes', () => {
    const results = [successRate, latency, mirror].map((check) => evaluateCheck(check, HEALTHY, 200));
    expect(results.map((r) => r.result)).toEqual(['pass', 'pass', 'pass']);
    expect(results[0]).toMatchObject({ check: 'success-rate', value: 99.8, threshold: '≥ 99 % and error rate ≤ stable + 0.5 pp', sample: { canary: 1_000, stable: 9_000 } });
    expect(results[1]).toMatchObject({ check: 'latency-p99', threshold: '≤ 500 ms and ≤ max(1.2 × stable, stable + 2 ms)' });
    expect(windowVerdict(results)).toBe('pass');
  });

  it('too few requests is inconclusive, not a pass', () => {
    const thin = { ...HEALTHY, canary: snapshot(50, 0, 0.004) };
    expect(evaluateCheck(successRate, thin, 200)).toMatchObject({ result: 'inconclusive', detail: expect.stringContaining('too few requests') });
    expect(evaluateCheck(latency, thin, 200).result).toBe('inconclusive');
    expect(windowVerdict([evaluateCheck(successRate, thin, 200), evaluateCheck(latency, HEALTHY, 200)])).toBe('inconclusive');
  });

  it('fails on the floor and on a significant degradation against stable', () => {
    expect(evaluateCheck(successRate, { ...HEALTHY, canary: snapshot(1_000, 50, 0.004) }, 200)).toMatchObject({ result: 'fail', value: 95 });
    const degraded = evaluateCheck(successRate, { ...HEALTHY, canary: snapshot(5_000, 45, 0.004), stable: snapshot(50_000, 50, 0.004) }, 200);
    expect(degraded.result).toBe('fail');
    expect(degraded.detail).toContain('significantly worse');
  });

  it('latency: fails above the absolute limit and above the ratio to stable', () => {
    expect(evaluateCheck(latency, { ...HEALTHY, canary: snapshot(1_000, 0, 0.9) }, 200)).toMatchObject({ result: 'fail' });
    const slower = evaluateCheck(latency, { ...HEALTHY, canary: snapshot(1_000, 0, 0.03), stable: snapshot(9_000, 0, 0.009) }, 200);
    expect(slower.result).toBe('fail');
    expect(slower.detail).toMatch(/canary p99 .* ms vs stable .* ms \(×\d/);
  });

  it('latency: a ratio above the limit fails only when the canary is also vsStable.minIncrease slower (default 2 ms)', () => {
    // Bucketed p99s of 49.75 ms (the 25–50 ms bucket) against 9.95 ms: ×5, 39.8 ms slower.
    const windows = { ...HEALTHY, canary: snapshot(1_000, 0, 0.03), stable: snapshot(9_000, 0, 0.009) };
    const [within, beyond, zero] = checksOf([
      { metric: 'latency-p99', vsStable: { maxRatio: 1.2, minIncrease: '45ms' } },
      { metric: 'latency-p99', vsStable: { maxRatio: 1.2, minIncrease: 35 } },
      { metric: 'latency-p99', vsStable: { maxRatio: 1.2, minIncrease: 0 } },
    ]);
    expect(evaluateCheck(within, windows, 200)).toMatchObject({ result: 'pass', threshold: '≤ max(1.2 × stable, stable + 45 ms)' });
    expect(evaluateCheck(beyond, windows, 200).result).toBe('fail');
    // With no floor the ratio alone decides: ×5 fails, equal arms pass.
    expect(evaluateCheck(zero, windows, 200).result).toBe('fail');
    expect(evaluateCheck(zero, HEALTHY, 200).result).toBe('pass');
  });

  it('mirror match rate needs enough comparisons', () => {
    expect(evaluateCheck(mirror, { ...HEALTHY, mirror: { compared: 10, matched: 5 } }, 200).result).toBe('inconclusive');
    expect(evaluateCheck(mirror, { ...HEALTHY, mirror: { compared: 100, matched: 90 } }, 200)).toMatchObject({ result: 'fail', value: 90 });
  });

  it('a Prometheus query: a value is judged; NaN, no data or an error is inconclusive', () => {
    expect(evaluateCheck(query, { ...HEALTHY, queries: { 'checkout-errors': 0.4 } }, 200).result).toBe('pass');
    expect(evaluateCheck(query, { ...HEALTHY, queries: { 'checkout-errors': 3 } }, 200).result).toBe('fail');
    expect(evaluateCheck(query, { ...HEALTHY, queries: { 'checkout-errors': 'NaN' } }, 200).result).toBe('inconclusive');
    expect(evaluateCheck(query, { ...HEALTHY, queries: { 'checkout-errors': 'no data' } }, 200).result).toBe('inconclusive');
    expect(evaluateCheck(query, { ...HEALTHY, queries: { 'checkout-errors': Number.NaN } }, 200).result).toBe('inconclusive');
    expect(evaluateCheck(query, HEALTHY, 200)).toMatchObject({ result: 'inconclusive', detail: 'no value: not queried' });
  });
});
