/**
 * The rollout machine with a release plan, on a controllable clock: a stage is left only after its bake (wall
 * clock since it was entered) and its minRequests, an approval stage waits in AwaitingApproval for an operator,
 * and a failing check does what its onFail says (rollback counts toward threshold, pause waits for resume, hold
 * stays in the stage without counting).
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { VERIFYING_JWT } from './helpers/jwks.js';
import type { RolloutConfig } from '../src/config/schema.js';
import type { CheckResult } from '../src/rollout/checks.js';
import { afterInitialization, afterWindow, begin, formatDuration, idleStatus, operatorAction, RolloutConflict, type RolloutStatus, type WindowReport } from '../src/rollout/machine.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.UTC(2026, 11, 1, 9);
const OK = { confirmed: true, detail: '' };

function specOf(rollout: Record<string, unknown>): RolloutConfig {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, jwt: VERIFYING_JWT,
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, rollout: { interval: '1m', threshold: 2, ...rollout } }],
  });
  return config.routes[0].rollout!;
}

function result(check: string, outcome: CheckResult['result']): CheckResult {
  return { check, result: outcome, value: outcome === 'fail' ? 90 : 100, threshold: '≥ 99 %', sample: { canary: 100, stable: 1000 }, detail: '' };
}

function window(results: CheckResult[] = [], canaryRequests = 100): WindowReport {
  const verdict = results.some((r) => r.result === 'fail') ? 'fail' : results.some((r) => r.result === 'inconclusive') ? 'inconclusive' : 'pass';
  return { at: new Date(START).toISOString(), weight: 0, verdict, results, canaryRequests };
}

/** Idle → Progressing at stage 1, entered at `at`. */
function started(spec: RolloutConfig, at: number): RolloutStatus {
  const begun = begin(idleStatus('rev1', 0, new Date(at)), 0, new Date(at));
  return afterInitialization(spec, begun.status, OK, { ok: true, detail: '' }, new Date(at)).status;
}

const FOUR_RINGS = {
  stages: [
    { name: 'developers', audience: { header: { 'x-team': 'dev' } }, bake: '2h' },
    { name: 'employees', audience: { claim: { email: '~@example\\.com$' } }, bake: '1d' },
    { name: 'five-percent', weight: 5, bake: '3d' },
    { name: 'everyone', weight: 100, bake: '6h' },
  ],
};

describe('release plan: bake', () => {
  it('leaves each of 4 rings only once its bake (hours and days) has passed on the wall clock', () => {
    const spec = specOf(FOUR_RINGS);
    let status = started(spec, START);
    expect(status).toMatchObject({ phase: 'Progressing', step: 0, weight: 0, stageEnteredAt: new Date(START).toISOString() });
    let entered = START;
    const bakes = [2 * HOUR, DAY, 3 * DAY, 6 * HOUR];
    for (const [stage, bake] of bakes.entries()) {
      // A window one second before the bake ends: still in the stage, and the message says how long is left.
      const early = afterWindow(spec, status, window(), null, new Date(entered + bake - 1000));
      expect(early.status.step).toBe(stage);
      expect(early.status.message).toContain(`baking, 1s left of ${formatDuration(bake)}`);
      expect(early.effects).toEqual([]);
      const due = afterWindow(spec, early.status, window(), null, new Date(entered + bake));
      if (stage < 3) {
        expect(due.status).toMatchObject({ phase: 'Progressing', step: stage + 1, weight: spec.steps[stage + 1] });
        expect(due.status.stageEnteredAt).toBe(new Date(entered + bake).toISOString());
        expect(due.status.history!.at(-1)).toMatchObject({ stage, name: spec.stages![stage].name, enteredAt: new Date(entered).toISOString(), leftAt: new Date(entered + bake).toISOString() });
      } else {
        expect(due.status).toMatchObject({ phase: 'Succeeded', weight: 100 });
        expect(due.status.history!.map((h) => h.name)).toEqual(['developers', 'employees', 'five-percent', 'everyone']);
      }
      entered += bake;
      status = due.status;
    }
    // 2h + 1d + 3d + 6h from start.
    expect(Date.parse(status.updatedAt) - START).toBe(4 * DAY + 8 * HOUR);
  });

  it('counts the bake from the persisted entry time, so a status read back (a restart) does not restart it', () => {
    const spec = specOf(FOUR_RINGS);
    const status = started(spec, START);
    const persisted = JSON.parse(JSON.stringify(status)) as RolloutStatus;
    expect(afterWindow(spec, persisted, window(), null, new Date(START + 2 * HOUR - 60_000)).status.step).toBe(0);
    expect(afterWindow(spec, persisted, window(), null, new Date(START + 2 * HOUR)).status.step).toBe(1);
  });

  it('waits for minRequests canary requests over the whole stage, not one window', () => {
    const spec = specOf({ stages: [{ name: 'one', weight: 1, minRequests: 250 }, { name: 'all', weight: 100 }] });
    let status = started(spec, START);
    status = afterWindow(spec, status, window([], 100), null, new Date(START + 60_000)).status;
    expect(status).toMatchObject({ step: 0, stageRequests: 100 });
    expect(status.message).toContain('100/250 canary requests seen');
    status = afterWindow(spec, status, window([], 100), null, new Date(START + 120_000)).status;
    expect(status.step).toBe(0);
    status = afterWindow(spec, status, window([], 50), null, new Date(START + 180_000)).status;
    expect(status).toMatchObject({ step: 1, stageRequests: 0 });
  });
});

describe('release plan: approval', () => {
  const spec = specOf({ stages: [{ name: 'beta', weight: 5, bake: '1h', gates: { approval: 'required' } }, { name: 'all', weight: 100 }] });

  it('waits in AwaitingApproval after the bake, keeps judging windows there, and moves on at approve', () => {
    let status = started(spec, START);
    expect(() => operatorAction(spec, status, 'approve', 0, new Date(START))).toThrow(RolloutConflict);
    status = afterWindow(spec, status, window(), null, new Date(START + 30 * 60_000)).status;
    expect(status.phase).toBe('Progressing');
    const waiting = afterWindow(spec, status, window(), null, new Date(START + HOUR));
    expect(waiting.status).toMatchObject({ phase: 'AwaitingApproval', step: 0, weight: 5 });
    expect(waiting.effects.map((e) => (e.kind === 'event' ? e.action : e.kind))).toEqual(['rollout.awaiting_approval']);
    // Days later, still waiting: time alone does not approve.
    const later = afterWindow(spec, waiting.status, window(), null, new Date(START + 5 * DAY));
    expect(later.status).toMatchObject({ phase: 'AwaitingApproval', step: 0 });
    const approved = operatorAction(spec, later.status, 'approve', 0, new Date(START + 5 * DAY + 1000));
    expect(approved.status).toMatchObject({ phase: 'Progressing', step: 1, weight: 100 });
    expect(approved.effects).toContainEqual({ kind: 'weight', weight: 100 });
    expect(approved.status.history![0].how).toContain('approved by an operator');
  });

  it('still rolls back on failed windows while it waits', () => {
    let status = afterWindow(spec, started(spec, START), window(), null, new Date(START + HOUR)).status;
    expect(status.phase).toBe('AwaitingApproval');
    for (let i = 1; i <= 2; i++) status = afterWindow(spec, status, window([result('success-rate', 'fail')]), null, new Date(START + HOUR + i * 60_000)).status;
    expect(status.phase).toBe('RolledBack');
  });
});

describe('release plan: onFail', () => {
  const spec = specOf({
    threshold: 2,
    checks: [
      { name: 'errors', metric: 'success-rate', min: 99, onFail: 'rollback' },
      { name: 'p99', metric: 'latency-p99', vsStable: { maxRatio: 1.2 }, onFail: 'pause' },
    ],
    stages: [
      { name: 'one', weight: 1, gates: { checks: [{ name: 'p50', metric: 'latency-p50', max: '200ms', onFail: 'hold' }] } },
      { name: 'all', weight: 100 },
    ],
  });

  it('pause: the rollout pauses, counts nothing, and an operator resume continues it', () => {
    const status = started(spec, START);
    const paused = afterWindow(spec, status, window([result('errors', 'pass'), result('p99', 'fail')]), null, new Date(START + 60_000));
    expect(paused.status).toMatchObject({ phase: 'Paused', pausedBy: 'check', failedChecks: 0, weight: 1 });
    expect(paused.status.message).toContain('onFail: pause');
    // Windows do not move a paused rollout.
    expect(afterWindow(spec, paused.status, window(), null, new Date(START + 120_000)).status).toBe(paused.status);
    const resumed = operatorAction(spec, paused.status, 'resume', 0, new Date(START + 180_000));
    expect(resumed.status).toMatchObject({ phase: 'Progressing', pausedBy: null, step: 0 });
  });

  it('rollback: counts toward threshold and rolls back when it is reached, even when a pause check fails too', () => {
    let status = started(spec, START);
    const failed = [result('errors', 'fail'), result('p99', 'fail')];
    status = afterWindow(spec, status, window(failed), null, new Date(START + 60_000)).status;
    expect(status).toMatchObject({ phase: 'Progressing', failedChecks: 1 });
    const second = afterWindow(spec, status, window(failed), null, new Date(START + 120_000));
    expect(second.status).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true });
    expect(second.effects).toContainEqual({ kind: 'kill' });
  });

  it('a stage webhook gate is named by stage and hook, and follows its own onFail', () => {
    const hooked = specOf({
      stages: [
        { name: 'one', weight: 1, gates: { webhooks: [{ name: 'smoke', url: 'http://127.0.0.1:9/smoke', onFail: 'hold' }, { name: 'qa', url: 'http://127.0.0.1:9/qa' }] } },
        { name: 'all', weight: 100 },
      ],
    });
    expect(hooked.stages![0].webhooks.map((h) => [h.name, h.type, h.timeout])).toEqual([
      ['smoke', 'rollout', 10_000],
      ['qa', 'rollout', 10_000],
    ]);
    const status = started(hooked, START);
    const held = afterWindow(hooked, status, window([result('webhook:one/smoke', 'fail')]), null, new Date(START + 60_000));
    expect(held.status).toMatchObject({ phase: 'Progressing', step: 0, failedChecks: 0 });
    const counted = afterWindow(hooked, status, window([result('webhook:one/qa', 'fail')]), null, new Date(START + 60_000));
    expect(counted.status).toMatchObject({ phase: 'Progressing', step: 0, failedChecks: 1 });
  });

  it('hold (a stage\'s own check): stays in the stage without counting a failure, and leaves once it passes', () => {
    let status = started(spec, START);
    for (let i = 1; i <= 5; i++) {
      const held = afterWindow(spec, status, window([result('errors', 'pass'), result('p50', 'fail')]), null, new Date(START + i * 60_000));
      expect(held.status).toMatchObject({ phase: 'Progressing', step: 0, failedChecks: 0 });
      expect(held.effects.map((e) => (e.kind === 'event' ? e.action : e.kind))).toEqual(['rollout.held']);
      status = held.status;
    }
    expect(afterWindow(spec, status, window([result('errors', 'pass'), result('p50', 'pass')]), null, new Date(START + 10 * 60_000)).status.step).toBe(1);
  });
});
