import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { analyseExperiment } from '../src/experiments/analysis.js';
import { ExperimentBook, ExperimentRecord } from '../src/experiments/experiment-book.js';
import { parseFrozenExperiments } from '../src/experiments/experiment-stop.js';
import { describeBreach, evaluateGuardrails } from '../src/experiments/guardrails.js';
import { compileExperimentPlan } from '../src/experiments/plan.js';
import { DURATION_BUCKETS } from '../src/metrics/metrics.js';
import type { WindowSnapshot } from '../src/metrics/rolling-window.js';

const config = validateConfig({
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
  experiments: [{ key: 'checkout', route: 'shop', minUsersPerArm: 100, conversions: [{ name: 'order', match: { method: 'POST', path: '/orders' } }] }],
});
const experiment = compileExperimentPlan(config).all[0];
const settings = experiment.guardrails;

/** `requests` in the window, `errors` of them failed, all in the latency bucket whose upper bound is `seconds`. */
function window(requests: number, errors: number, seconds = 0.01): WindowSnapshot {
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  buckets[DURATION_BUCKETS.indexOf(seconds)] = requests;
  return { seconds: 600, requests, errors, buckets };
}

describe('evaluateGuardrails', () => {
  it('defaults: B may lose 1 pp of error rate and stay within 1.5 × A or A + 25 ms on p99, each arm with 50 requests', () => {
    expect(settings).toEqual({ maxErrorRateIncrease: 1, maxP99Ratio: 1.5, minP99Increase: 25, minRequests: 50, confidence: 0.95 });
  });

  const cases: Array<{ name: string; control: WindowSnapshot; treatment: WindowSnapshot; results: [string, string]; breach: string | null }> = [
    { name: 'equal arms pass', control: window(400, 2), treatment: window(400, 2), results: ['pass', 'pass'], breach: null },
    { name: 'too few requests are inconclusive, never a breach', control: window(40, 0), treatment: window(40, 20), results: ['inconclusive', 'inconclusive'], breach: null },
    { name: 'a worse error rate is a breach', control: window(500, 1), treatment: window(500, 60), results: ['fail', 'pass'], breach: 'guardrail: error rate 12 % vs 0.2 % (B vs A)' },
    { name: 'a slower p99 is a breach', control: window(500, 0, 0.01), treatment: window(500, 0, 0.1), results: ['pass', 'fail'], breach: 'guardrail: p99 99.5 ms vs 10 ms (B vs A)' },
    // Twice as slow but only 5 ms: what two identical versions of a fast service can read (CI: 8.1 vs 4.4 ms).
    { name: 'a p99 a few ms above A is no breach, whatever the ratio', control: window(500, 0, 0.005), treatment: window(500, 0, 0.01), results: ['pass', 'pass'], breach: null },
    { name: 'a better treatment is no breach', control: window(500, 60, 0.1), treatment: window(500, 1, 0.01), results: ['pass', 'pass'], breach: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const report = evaluateGuardrails(settings, c.control, c.treatment);
      expect(report.checks.map((check) => check.result)).toEqual(c.results);
      expect(report.breached).toBe(c.breach !== null);
      expect(describeBreach(report)).toBe(c.breach);
    });
  }

  it('reports both arms’ values and the sample', () => {
    const [errors, latency] = evaluateGuardrails(settings, window(500, 1), window(500, 60)).checks;
    expect(errors).toMatchObject({ check: 'error-rate', unit: '%', control: 0.2, treatment: 12, threshold: 'B ≤ A + 1 pp', sample: { control: 500, treatment: 500 } });
    expect(latency).toMatchObject({ check: 'latency-p99', unit: 'ms', threshold: 'B ≤ max(1.5 × A, A + 25 ms)' });
  });
});

describe('a breach in the verdict', () => {
  it('holds back a winner the conversions alone would declare', () => {
    const record = new ExperimentRecord('checkout', 1000);
    record.arms[0].users = 5000;
    record.arms[1].users = 5000;
    record.conversion(0, 'order').converters = 500;
    record.conversion(1, 'order').converters = 700;
    expect(analyseExperiment(experiment, record, 50).report.verdict).toMatch(/^B wins/);
    const guardrails = evaluateGuardrails(settings, window(500, 1), window(500, 60));
    const { report } = analyseExperiment(experiment, record, 50, guardrails);
    expect(report.verdict).toBe('guardrail: error rate 12 % vs 0.2 % (B vs A); no winner is declared');
    expect(report.winner).toBeNull();
    expect(report.conversions[0].verdict).toBe(report.verdict);
    expect(report.guardrails).toBe(guardrails);
  });
});

describe('stopping', () => {
  function book(): ExperimentBook {
    const b = new ExperimentBook({ now: () => 1_000_000 });
    b.planOf(config);
    return b;
  }
  const respond = (b: ExperimentBook, user: string, version: 'stable' | 'canary', method: string, url: string) => b.begin(config, 'shop', version, user, method, url, undefined)!.responded(200, []);

  it('counts nothing after the stop, and a frozen record survives JSON and comes back the same', () => {
    const b = book();
    respond(b, 'u1', 'canary', 'GET', '/');
    respond(b, 'u1', 'canary', 'POST', '/orders');
    respond(b, 'u2', 'stable', 'GET', '/');
    const record = b.record('checkout')!;
    record.minimumPValues.set('order', 0.4);
    record.stop({ at: '2026-12-02T06:00:00.000Z', actor: 'ops@127.0.0.1' }, null);
    respond(b, 'u3', 'canary', 'GET', '/');
    respond(b, 'u2', 'stable', 'POST', '/orders');
    b.applyEvents([{ experiment: 'checkout', user: 'u9', arm: 1, at: 1_000_000, conversion: null, value: 0 }]);
    expect(record.arms.map((a) => a.users)).toEqual([1, 1]);
    expect(record.arms.map((a) => a.conversions.get('order')?.converters ?? 0)).toEqual([0, 1]);
    expect(record.trackedUsers).toBe(2);

    const stored = JSON.parse(JSON.stringify({ checkout: record.freeze() }));
    const restarted = new ExperimentBook();
    restarted.restoreStopped(parseFrozenExperiments(stored, []));
    restarted.planOf(config);
    const back = restarted.record('checkout')!;
    expect(back.freeze()).toEqual(record.freeze());
    expect(back.stopped).toEqual({ at: '2026-12-02T06:00:00.000Z', actor: 'ops@127.0.0.1' });
  });

  it('reads a damaged entry as a warning and keeps the others', () => {
    const b = book();
    b.record('checkout')!.stop({ at: '2026-12-02T06:00:00.000Z', actor: 'ops' }, null);
    const good = JSON.parse(JSON.stringify(b.record('checkout')!.freeze()));
    const warnings: string[] = [];
    const read = parseFrozenExperiments(
      { good, noTime: { ...good, stopped: { at: 'yesterday' } }, oneArm: { ...good, arms: [good.arms[0]] }, negative: { ...good, arms: [{ users: -1, conversions: {} }, good.arms[1]] }, text: 'stopped' },
      warnings,
    );
    expect([...read.keys()]).toEqual(['good']);
    expect(warnings).toEqual(['noTime', 'oneArm', 'negative', 'text'].map((key) => `experiments.${key} is not a stopped experiment's record; ignored`));
  });
});
