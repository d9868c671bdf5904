import { afterEach, describe, expect, it } from 'vitest';
import { routeInsight } from '../src/admin/route-insight.js';
import { validateConfig } from '../src/config/load.js';
import type { RolloutCheckConfig } from '../src/config/schema.js';
import { bucketIndex, RollingWindow, SLOTS, type WindowSnapshot } from '../src/metrics/rolling-window.js';
import { Outcome } from '../src/proxy/canary-guard.js';
import { analysisWindow } from '../src/rollout/analysis-window.js';
import { ejectionCheck } from '../src/rollout/checks.js';
import { idleStatus, type RolloutStatus, type WindowReport } from '../src/rollout/machine.js';
import { DEFAULT_CHECKS, routeVerdict, type VerdictInputs } from '../src/rollout/verdict.js';
import { startRolloutHarness } from './helpers/rollout-manager.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');

/** `requests` over the last 10 s, every `errorEvery`-th failed (0: none), each taking `ms`. */
function traffic(requests: number, ms: number, errorEvery = 0): WindowSnapshot {
  const window = new RollingWindow();
  for (let i = 0; i < requests; i++) window.observe(NOW - (i % 10) * 1000, errorEvery > 0 && i % errorEvery === 0, bucketIndex(ms / 1000));
  return window.snapshot(NOW, 30);
}

function inputs(overrides: Partial<VerdictInputs> = {}): VerdictInputs {
  return {
    hasCanary: true,
    killed: false,
    stable: traffic(400, 8),
    canary: traffic(400, 8),
    mirror: null,
    ejection: null,
    checks: DEFAULT_CHECKS,
    minRequests: 20,
    rollout: null,
    ...overrides,
  };
}

function status(phase: RolloutStatus['phase'], extra: Partial<RolloutStatus> = {}): RolloutStatus {
  return { ...idleStatus('rev', 10, new Date(NOW)), phase, step: 1, weight: 20, message: `the rollout is ${phase}`, ...extra };
}

function failedWindow(detail: string, pacing?: WindowReport['pacing']): WindowReport {
  return {
    at: new Date(NOW).toISOString(),
    weight: 20,
    verdict: 'fail',
    results: [{ check: 'success-rate', result: 'fail', value: 90, threshold: '≥ 99 %', sample: { canary: 100 }, detail }],
    ...(pacing ? { pacing } : {}),
  };
}

describe('routeVerdict', () => {
  it('DEFAULT_CHECKS are checks the config would accept, as it would write them', () => {
    const config = validateConfig({
      upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
      routes: [{ name: 'api', stable: 's', canary: 'c', rollout: { stepWeights: [10], checks: [{ metric: 'success-rate', vsStable: { maxDegradation: 1 } }, { metric: 'latency-p99', vsStable: { maxRatio: 1.1 } }] } }],
    });
    expect(config.routes[0].rollout!.checks).toEqual(DEFAULT_CHECKS.map((check) => ({ ...check, max: undefined })));
  });

  it('a canary like stable is healthy; too few requests is collecting, never healthy', () => {
    expect(routeVerdict(inputs())).toMatchObject({ level: 'healthy', text: 'healthy' });
    const few = routeVerdict(inputs({ canary: traffic(5, 8) }));
    expect(few.level).toBe('collecting');
    expect(few.text).toBe('collecting: too few requests (canary 5, stable 400; need 20 each)');
  });

  it('a slower canary is a warning that says by how much, relative to stable', () => {
    // 8 ms falls in the 5-10 ms bucket, 20 ms in 10-25 ms: p99 9.95 ms against 24.85 ms.
    const verdict = routeVerdict(inputs({ canary: traffic(400, 20) }));
    expect(verdict.level).toBe('warning');
    expect(verdict.text).toBe('warning: p99 +150 % vs stable');
    expect(verdict.checks.map((c) => [c.check, c.result])).toEqual([
      ['success-rate', 'pass'],
      ['latency-p99', 'fail'],
    ]);
  });

  it('a canary failing more is a warning in percentage points, with both rates', () => {
    const verdict = routeVerdict(inputs({ canary: traffic(400, 8, 10) }));
    expect(verdict.text).toBe('warning: error rate +10 pp vs stable (10 % vs 0 %)');
  });

  it("a rollout's own checks decide: an absolute success-rate floor and a latency ceiling", () => {
    const checks = [
      { name: 'success-rate', metric: 'success-rate', min: 99 },
      { name: 'latency-p50', metric: 'latency-p50', max: 15 },
    ] as RolloutCheckConfig[];
    const verdict = routeVerdict(inputs({ checks, canary: traffic(400, 20, 25), rollout: { status: status('Progressing'), threshold: 3 } }));
    expect(verdict.text).toBe('warning: success rate 96 % below 99 %; p50 17.5 ms above 15 ms');
  });

  it('prometheus checks are left to the runner: the verdict never queries', () => {
    const checks = [{ name: 'q', prometheus: { address: 'http://127.0.0.1:1', query: 'up', timeout: 1000 }, min: 1 }] as RolloutCheckConfig[];
    expect(routeVerdict(inputs({ checks })).level).toBe('healthy');
  });

  it("the rollout's phase comes first: rolled back, killed, promoted, paused", () => {
    const bad = { canary: traffic(400, 8, 2) };
    expect(routeVerdict(inputs({ ...bad, rollout: { status: status('RolledBack'), threshold: 3 } })).text).toBe('rolled back: the rollout is RolledBack');
    expect(routeVerdict(inputs({ ...bad, killed: true })).text).toBe('killed: all traffic goes to stable');
    expect(routeVerdict(inputs({ rollout: { status: status('Succeeded'), threshold: 3 } })).level).toBe('promoted');
    expect(routeVerdict(inputs({ ...bad, rollout: { status: status('Paused'), threshold: 3 } })).text).toBe('paused: the rollout is Paused');
  });

  it("the runner's failed windows: failing, with how many are left before the rollback", () => {
    const running = (failedChecks: number) => ({ status: status('Progressing', { failedChecks, lastWindow: failedWindow('success rate 90 % below 99 %') }), threshold: 3 });
    expect(routeVerdict(inputs({ rollout: running(1) }))).toMatchObject({ level: 'failing', text: 'failing: success rate 90 % below 99 % (1 of 3 failed windows; 2 more roll back)' });
    expect(routeVerdict(inputs({ rollout: running(2) })).text).toBe('failing: success rate 90 % below 99 % (2 of 3 failed windows; the next one rolls back)');
  });

  it('a fast error-budget burn that rolls back says so', () => {
    const pacing = { action: 'rollback' as const, reason: 'fast burn: error budget burning at 20× over 1h and 30× over 5m (threshold 14.4×)', window: '1h/5m', value: 20 };
    const rollout = { status: status('Progressing', { lastWindow: failedWindow('x', pacing) }), threshold: 3 };
    expect(routeVerdict(inputs({ rollout }))).toMatchObject({ level: 'rolling-back', text: `rolling back: ${pacing.reason}` });
  });

  it('a route without a canary has nothing to judge', () => {
    expect(routeVerdict(inputs({ hasCanary: false }))).toEqual({ level: 'none', text: 'no canary', checks: [] });
  });
});

describe('ejectionCheck', () => {
  it('fails the window of an ejection, or while one is in force; says nothing otherwise', () => {
    expect(ejectionCheck({ ejected: false, unhealthy: false }, 0)).toBeNull();
    expect(ejectionCheck({ ejected: false, unhealthy: false }, 2)).toMatchObject({ check: 'outlier-ejection', result: 'fail', detail: 'canary ejected 2 time(s) in the window' });
    expect(ejectionCheck({ ejected: true, unhealthy: false }, 1)?.detail).toBe('canary ejected (outlier detection)');
    expect(ejectionCheck({ ejected: true, unhealthy: true }, 0)?.detail).toBe('canary ejected (failing health checks)');
  });

  it('an ejection in the window is a warning in the verdict, in its own words', () => {
    const verdict = routeVerdict(inputs({ ejection: ejectionCheck({ ejected: false, unhealthy: false }, 1) }));
    expect(verdict).toMatchObject({ level: 'warning', text: 'warning: canary ejected 1 time(s) in the window' });
    expect(verdict.checks.map((c) => [c.check, c.result])).toEqual([
      ['success-rate', 'pass'],
      ['latency-p99', 'pass'],
      ['outlier-ejection', 'fail'],
    ]);
  });
});

const SPEC = validateConfig({
  upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
  routes: [
    {
      name: 'api',
      stable: 's',
      canary: 'c',
      rollout: {
        interval: '30s',
        analysis: { traffic: 'all' },
        checks: [{ metric: 'success-rate', min: 95 }],
        stages: [
          { name: 'ring-1', weight: 5, bake: '1h', gates: { checks: [{ metric: 'latency-p99', max: 300 }] } },
          { name: 'ring-2', weight: 50, bake: '1h' },
        ],
      },
    },
  ],
}).routes[0].rollout!;

describe('analysisWindow: what a runner window judges, shared with the verdict', () => {
  it.each([
    [1_000, 2],
    [1_500, 3],
    [2_000, 3],
    [30_000, 31],
    [600_000, 601],
  ])('interval %i ms: %i whole seconds (the interval and the second still filling)', (interval, seconds) => {
    expect(analysisWindow({ ...SPEC, interval }, 0).seconds).toBe(seconds);
  });

  it("the checks in force: the rollout's, then its current stage's", () => {
    expect(analysisWindow(SPEC, 0)).toEqual({ seconds: 31, traffic: 'all', checks: [SPEC.checks[0], SPEC.stages![0].checks![0]] });
    expect(analysisWindow(SPEC, 1).checks).toEqual(SPEC.checks);
    expect(analysisWindow({ ...SPEC, stages: undefined, analysis: { ...SPEC.analysis, traffic: 'weighted' } }, 0)).toMatchObject({ traffic: 'weighted', checks: SPEC.checks });
  });
});

describe('routeInsight judges what the rollout runner judges', () => {
  const RAW = {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2', m: 'http://127.0.0.1:3' },
    routes: [
      {
        name: 'api',
        stable: 's',
        canary: 'c',
        weight: 0,
        mirror: { to: 'm', percent: 100 },
        // 90 s: the runner's own timer does not fire again during a test; the test ticks it.
        rollout: {
          interval: '90s',
          stepWeights: [10, 50],
          threshold: 3,
          minRequests: 10,
          analysis: { traffic: 'all' },
          checks: [{ metric: 'success-rate', min: 95 }, { metric: 'mirror-match-rate', min: 90 }],
        },
      },
    ],
  };
  let clock = NOW;
  const closing: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
    clock = NOW;
  });

  async function progressing() {
    const harness = await startRolloutHarness(RAW, { now: () => clock });
    closing.push(() => harness.close());
    const runner = harness.runner('api');
    for (let i = 0; i < 3 && runner.status.phase !== 'Progressing'; i++) await runner.tick();
    expect(runner.status.phase).toBe('Progressing');
    const route = () => harness.store.current.table.routes.find((r) => r.name === 'api')!;
    const insight = () => routeInsight(route(), route().guard, runner, harness.series, harness.mirrors, clock);
    /** `count` requests of each version `agoMs` before the clock. */
    const serve = (count: number, agoMs: number) => {
      for (const version of ['stable', 'canary'] as const) {
        for (let i = 0; i < count; i++) harness.series.get('api', version).window.observe(clock - agoMs, false, bucketIndex(0.008));
      }
    };
    return { harness, runner, route, insight, serve, records: harness.mirrors.recordsFor('api', 10) };
  }

  it("the verdict's window is the runner's: ceil(interval) + 1 whole seconds, the same requests in it", async () => {
    const { runner, insight, serve } = await progressing();
    serve(30, 90_000); // in the 91 s window (the clock is on a whole second), not in a 90 s one
    serve(40, 91_000); // in neither
    const verdict = insight().verdict;
    expect(verdict.windowSeconds).toBe(91);
    const successRate = verdict.checks.find((c) => c.check === 'success-rate')!;
    expect(successRate.sample).toEqual({ canary: 30, stable: 30 });
    await runner.tick();
    const window = runner.status.lastWindow!;
    expect(window.canaryRequests).toBe(30);
    expect(window.results.find((r) => r.check === 'success-rate')).toEqual(successRate);
  });

  it('an earlier bad mirror match rate is not shown once the recent comparisons match, as the runner judges', async () => {
    clock = NOW - 3 * 3600_000;
    const { runner, insight, serve, records } = await progressing();
    // A previous canary: every other comparison differed, and the runner's window then failed for it.
    for (let i = 0; i < 100; i++) records.recordComparison(i % 2 === 0 ? [] : [{ field: 'body.$.a' } as never], null, clock - 1000);
    await runner.tick();
    expect(runner.status.lastWindow!.results.find((r) => r.check === 'mirror-match-rate')).toMatchObject({ result: 'fail', value: 50 });
    // Three hours on: the new canary matches every time.
    clock = NOW;
    serve(20, 1000);
    for (let i = 0; i < 30; i++) records.recordComparison([], null, clock - 1000);
    expect(records.summary().matchRate).toBeCloseTo(80 / 130);
    await runner.tick();
    expect(runner.status.lastWindow!.verdict).toBe('pass');
    const verdict = insight().verdict;
    expect(verdict).toMatchObject({ level: 'healthy', text: 'healthy' });
    expect(verdict.checks.find((c) => c.check === 'mirror-match-rate')).toMatchObject({ result: 'pass', value: 100, detail: 'mirror match rate 100 % over 30 comparisons' });
    // Later, no comparisons in the window: too few to say, not the old rate.
    clock = NOW + SLOTS * 1000;
    serve(20, 1000);
    expect(insight().verdict.checks.find((c) => c.check === 'mirror-match-rate')).toMatchObject({ result: 'inconclusive', sample: { canary: 0 } });
  });

  it("an outlier ejection warns at once and is the runner's next failed window", async () => {
    const { runner, insight, serve, route } = await progressing();
    serve(20, 1000);
    expect(insight().verdict.level).toBe('collecting'); // no mirror comparisons yet
    for (let i = 0; i < 5; i++) route().guard!.record(Outcome.Failure);
    expect(route().guard!.ejected).toBe(true);
    const warned = insight().verdict;
    expect(warned.text).toBe('warning: canary ejected (outlier detection)');
    await runner.tick();
    const failed = runner.status.lastWindow!.results.find((r) => r.result === 'fail');
    expect(failed).toEqual(warned.checks.find((c) => c.check === 'outlier-ejection'));
    expect(insight().verdict.text).toBe('failing: canary ejected (outlier detection) (1 of 3 failed windows; 2 more roll back)');
    expect(runner.ejectionsSinceWindow).toBe(0);
  });
});
