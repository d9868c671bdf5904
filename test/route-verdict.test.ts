import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import type { RolloutCheckConfig } from '../src/config/schema.js';
import { bucketIndex, RollingWindow, type WindowSnapshot } from '../src/metrics/rolling-window.js';
import { idleStatus, type RolloutStatus, type WindowReport } from '../src/rollout/machine.js';
import { DEFAULT_CHECKS, routeVerdict, type VerdictInputs } from '../src/rollout/verdict.js';

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
