import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import type { RolloutConfig } from '../src/config/schema.js';
import type { CheckResult } from '../src/rollout/checks.js';
import {
  afterInitialization,
  afterWindow,
  begin,
  idleStatus,
  operatorAction,
  RolloutConflict,
  type RolloutStatus,
  type Transition,
  type WindowReport,
} from '../src/rollout/machine.js';
import type { Verdict } from '../src/rollout/statistics.js';

/** A fake clock: every call is one second later. */
function clock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  return () => new Date((t += 1000));
}

function specOf(rollout: Record<string, unknown>): RolloutConfig {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, rollout: { interval: '10s', stepWeights: [10, 50], threshold: 2, ...rollout } }],
  });
  return config.routes[0].rollout!;
}

function report(verdict: Verdict, results: CheckResult[] = []): WindowReport {
  return { at: '2026-01-01T00:00:00.000Z', weight: 0, verdict, results };
}

const FAILED_CHECK: CheckResult = { check: 'success-rate', result: 'fail', value: 93.1, threshold: '≥ 99 %', sample: { canary: 5000, stable: 45000 }, detail: 'success rate 93.1 % below 99 %' };
const OK = { confirmed: true, detail: '' };
const PRE_OK = { ok: true, detail: '' };

function kinds(transition: Transition): string[] {
  return transition.effects.map((e) => (e.kind === 'weight' ? `weight ${e.weight}` : e.kind === 'event' ? e.action : e.kind === 'notify' ? `notify ${e.type}` : e.kind));
}

/** Initializing → Progressing at step 1. */
function progressing(spec: RolloutConfig, now: () => Date): RolloutStatus {
  const started = begin(idleStatus('rev1', 0, now()), 0, now());
  return afterInitialization(spec, started.status, OK, PRE_OK, now()).status;
}

describe('rollout machine', () => {
  it('walks every step on passing windows and promotes', () => {
    const now = clock();
    const spec = specOf({});
    const started = begin(idleStatus('rev1', 0, now()), 0, now());
    expect(started.status.phase).toBe('Initializing');
    expect(kinds(started)).toEqual(['weight 0', 'rollout.started']);
    const first = afterInitialization(spec, started.status, OK, PRE_OK, now());
    expect(first.status).toMatchObject({ phase: 'Progressing', step: 0, weight: 10 });
    expect(kinds(first)).toEqual(['weight 10', 'rollout.step']);
    const second = afterWindow(spec, first.status, report('pass'), null, now());
    expect(second.status).toMatchObject({ phase: 'Progressing', step: 1, weight: 50 });
    const done = afterWindow(spec, second.status, report('pass'), null, now());
    expect(done.status).toMatchObject({ phase: 'Succeeded', weight: 100 });
    expect(kinds(done)).toEqual(['weight 100', 'notify post-rollout', 'rollout.succeeded']);
    expect(done.status.seq).toBeGreaterThan(second.status.seq);
  });

  it('onSuccess: hold keeps the last step weight', () => {
    const now = clock();
    const spec = specOf({ onSuccess: 'hold', stepWeights: [20] });
    const done = afterWindow(spec, progressing(spec, now), report('pass'), null, now());
    expect(done.status).toMatchObject({ phase: 'Succeeded', weight: 20 });
  });

  it('counts failed windows and rolls back at the threshold with weight 0, kill switch and hooks', () => {
    const now = clock();
    const spec = specOf({ threshold: 2 });
    const once = afterWindow(spec, progressing(spec, now), report('fail', [FAILED_CHECK]), null, now());
    expect(once.status).toMatchObject({ phase: 'Progressing', failedChecks: 1, weight: 10 });
    expect(kinds(once)).toEqual(['rollout.check_failed']);
    expect(once.status.message).toContain('success-rate = 93.1 (want ≥ 99 %');
    const twice = afterWindow(spec, once.status, report('fail', [FAILED_CHECK]), null, now());
    expect(twice.status).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true, failedChecks: 2 });
    expect(kinds(twice)).toEqual(['weight 0', 'kill', 'notify rollback', 'notify post-rollout', 'rollout.rolled_back']);
    // The event carries every check with its value, threshold and sample size.
    const event = twice.effects.find((e) => e.kind === 'event') as { details: { checks: CheckResult[] } };
    expect(event.details.checks[0]).toMatchObject({ value: 93.1, threshold: '≥ 99 %', sample: { canary: 5000 } });
  });

  it('holds on inconclusive windows (Paused, weight kept), resumes by itself on a conclusive one', () => {
    const now = clock();
    const spec = specOf({ inconclusiveLimit: 3 });
    const held = afterWindow(spec, progressing(spec, now), report('inconclusive'), null, now());
    expect(held.status).toMatchObject({ phase: 'Paused', pausedBy: 'inconclusive', weight: 10, inconclusiveWindows: 1, failedChecks: 0 });
    const again = afterWindow(spec, held.status, report('inconclusive'), null, now());
    expect(again.status.inconclusiveWindows).toBe(2);
    const moving = afterWindow(spec, again.status, report('pass'), null, now());
    expect(moving.status).toMatchObject({ phase: 'Progressing', step: 1, weight: 50, inconclusiveWindows: 0 });
  });

  it('fails after inconclusiveLimit windows in a row, and at once with inconclusive: fail', () => {
    const now = clock();
    const spec = specOf({ inconclusiveLimit: 2, threshold: 1 });
    const first = afterWindow(spec, progressing(spec, now), report('inconclusive'), null, now());
    const second = afterWindow(spec, first.status, report('inconclusive'), null, now());
    expect(second.status).toMatchObject({ phase: 'RolledBack' });
    expect(second.status.message).toContain('2 inconclusive windows in a row');
    const strict = specOf({ inconclusive: 'fail', threshold: 1 });
    expect(afterWindow(strict, progressing(strict, now), report('inconclusive'), null, now()).status.phase).toBe('RolledBack');
  });

  it('never promotes on no data: a run of inconclusive windows under hold stays at the first step', () => {
    const now = clock();
    const spec = specOf({});
    let status = progressing(spec, now);
    for (let i = 0; i < 50; i++) status = afterWindow(spec, status, report('inconclusive'), null, now()).status;
    expect(status).toMatchObject({ phase: 'Paused', weight: 10, step: 0 });
  });

  it('waits at the last step while confirm-promotion says no', () => {
    const now = clock();
    const spec = specOf({ stepWeights: [30] });
    const waiting = afterWindow(spec, progressing(spec, now), report('pass'), { confirmed: false, detail: 'gate: 403' }, now());
    expect(waiting.status).toMatchObject({ phase: 'Progressing', weight: 30 });
    expect(waiting.status.message).toContain('waiting for confirm-promotion');
    expect(afterWindow(spec, waiting.status, report('pass'), OK, now()).status.phase).toBe('Succeeded');
  });

  it('Initializing: confirm-rollout holds; pre-rollout failures count against the threshold', () => {
    const now = clock();
    const spec = specOf({ threshold: 2 });
    const started = begin(idleStatus('rev1', 0, now()), 0, now()).status;
    const gated = afterInitialization(spec, started, { confirmed: false, detail: 'hook: 403' }, PRE_OK, now());
    expect(gated.status).toMatchObject({ phase: 'Initializing', failedChecks: 0 });
    const preFailed = afterInitialization(spec, gated.status, OK, { ok: false, detail: 'smoke: 500' }, now());
    expect(preFailed.status).toMatchObject({ phase: 'Initializing', failedChecks: 1 });
    expect(afterInitialization(spec, preFailed.status, OK, { ok: false, detail: 'smoke: 500' }, now()).status.phase).toBe('RolledBack');
  });

  it('operator actions and their conflicts', () => {
    const now = clock();
    const spec = specOf({});
    const running = progressing(spec, now);
    const paused = operatorAction(spec, running, 'pause', 0, now()).status;
    expect(paused).toMatchObject({ phase: 'Paused', pausedBy: 'operator', resumePhase: 'Progressing' });
    // A window that ends while paused by an operator changes nothing.
    expect(afterWindow(spec, paused, report('pass'), null, now()).status).toBe(paused);
    expect(() => operatorAction(spec, paused, 'pause', 0, now())).toThrow(RolloutConflict);
    const resumed = operatorAction(spec, paused, 'resume', 0, now()).status;
    expect(resumed).toMatchObject({ phase: 'Progressing', pausedBy: null });
    expect(() => operatorAction(spec, resumed, 'resume', 0, now())).toThrow(RolloutConflict);
    expect(() => operatorAction(spec, resumed, 'start', 0, now())).toThrow(/restart/);

    const aborted = operatorAction(spec, resumed, 'abort', 0, now());
    expect(aborted.status).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true });
    expect(kinds(aborted)).toContain('kill');
    expect(() => operatorAction(spec, aborted.status, 'abort', 0, now())).toThrow(RolloutConflict);

    const restarted = operatorAction(spec, aborted.status, 'restart', 0, now());
    expect(restarted.status).toMatchObject({ phase: 'Initializing', step: -1, failedChecks: 0, engagedKill: false });
    expect(kinds(restarted)[0]).toBe('release-kill');
    expect(restarted.status.seq).toBeGreaterThan(aborted.status.seq);

    const promoted = operatorAction(spec, running, 'promote', 0, now());
    expect(promoted.status).toMatchObject({ phase: 'Succeeded', weight: 100 });
    expect(() => operatorAction(spec, promoted.status, 'promote', 0, now())).toThrow(RolloutConflict);
  });

  it('a late window result for a moved-on rollout is visible through seq (abort during a webhook)', () => {
    const now = clock();
    const spec = specOf({});
    const running = progressing(spec, now);
    const aborted = operatorAction(spec, running, 'abort', 0, now()).status;
    expect(aborted.seq).not.toBe(running.seq);
    // Applying the stale window to the aborted status changes nothing.
    expect(afterWindow(spec, aborted, report('pass'), null, now()).status).toBe(aborted);
  });

  it('generates steps from stepWeight and maxWeight', () => {
    expect(specOf({ stepWeights: undefined, stepWeight: 10, maxWeight: 35 }).steps).toEqual([10, 20, 30, 35]);
    expect(specOf({ stepWeights: undefined, stepWeight: 25, maxWeight: 50 }).steps).toEqual([25, 50]);
  });
});

describe('rollout config', () => {
  const base = {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0 }],
  };
  const problems = (rollout: Record<string, unknown>, route: Record<string, unknown> = {}) => {
    try {
      validateConfig({ ...base, routes: [{ ...base.routes[0], ...route, rollout }] });
      return [];
    } catch (error) {
      return (error as { issues: Array<{ path: string; message: string }> }).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };

  it.each([
    [{ stepWeights: [10, 5] }, {}, 'routes[0].rollout.stepWeights: must increase strictly'],
    [{}, {}, 'routes[0].rollout: must set stepWeights, or stepWeight with maxWeight'],
    [{ stepWeights: [10], interval: '1h' }, {}, 'routes[0].rollout.interval: must be between 1s and 10m'],
    [{ stepWeights: [10], checks: [{ metric: 'success-rate' }] }, {}, 'routes[0].rollout.checks[0]: must set min, max or vsStable'],
    [{ stepWeights: [10], checks: [{ prometheus: { address: 'http://127.0.0.1:9090', query: 'up' }, max: 1 }] }, {}, 'routes[0].rollout.checks[0].name: is required for a prometheus check'],
    [{ stepWeights: [10], checks: [{ metric: 'latency-p99', max: 'slow' }] }, {}, 'routes[0].rollout.checks[0].max: must be a duration such as 500ms'],
    [{ stepWeights: [10], checks: [{ metric: 'mirror-match-rate', min: 99 }] }, {}, 'routes[0].rollout.checks[0].metric: mirror-match-rate needs the route to mirror'],
    [{ stepWeights: [10], checks: [{ metric: 'success-rate', vsStable: { maxDegradation: 1, minIncrease: 5 } }] }, {}, 'routes[0].rollout.checks[0].vsStable.minIncrease: applies to latency checks only'],
    [{ stepWeights: [10], checks: [{ metric: 'latency-p99', vsStable: { maxRatio: 2, minIncrease: 'soon' } }] }, {}, 'routes[0].rollout.checks[0].vsStable.minIncrease: must be a duration'],
    [{ stepWeights: [10] }, { weight: 20 }, "routes[0].rollout: the first step (10) must be above the route's starting weight (20)"],
    [{ stepWeights: [10], webhooks: [{ type: 'pre-rollout', url: 'ftp://x' }] }, {}, 'routes[0].rollout.webhooks[0].url: must be an absolute http:// or https:// URL'],
  ])('%j is rejected', (rollout, route, expected) => {
    expect(problems(rollout, route).some((line) => line.startsWith(expected))).toBe(true);
  });

  it('accepts the issue example', () => {
    expect(
      problems(
        {
          interval: '30s',
          stepWeights: [1, 5, 10, 25, 50],
          threshold: 3,
          minRequests: 200,
          inconclusive: 'hold',
          checks: [
            { metric: 'success-rate', min: 99, vsStable: { maxDegradation: 0.5 } },
            { metric: 'latency-p99', max: '500ms', vsStable: { maxRatio: 1.2 } },
            { name: 'checkout-errors', prometheus: { address: 'http://127.0.0.1:9090', query: 'sum(rate(x[1m]))' }, max: 1 },
          ],
          webhooks: [{ type: 'pre-rollout', url: 'http://127.0.0.1:7000/smoke', timeout: '10s' }],
          onSuccess: 'promote',
        },
        {},
      ),
    ).toEqual([]);
  });
});
