/**
 * The schedule presets expand to the documented plans (golden: README "Release plans" shows the same tables), a
 * plan's own stages override a preset's field by field, and the plan view gives expected times from the bakes.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { afterInitialization, begin, idleStatus } from '../src/rollout/machine.js';
import { formatPlan, planView } from '../src/rollout/plan-view.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function rolloutOf(rollout: Record<string, unknown>) {
  return validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, region: { header: 'x-region' }, rollout }],
  }).routes[0].rollout!;
}

function table(rollout: Record<string, unknown>): Array<[string, number, number]> {
  return rolloutOf(rollout).stages!.map((s) => [s.name, s.weight, s.bake]);
}

describe('schedule presets (golden)', () => {
  it('emergency: 10 → 50 → 100 % in 30 minutes', () => {
    expect(table({ schedule: 'emergency' })).toEqual([
      ['10-percent', 10, 10 * MIN],
      ['50-percent', 50, 10 * MIN],
      ['100-percent', 100, 10 * MIN],
    ]);
  });

  it('aggressive: 1 → 5 → 10 → 25 → 50 → 100 % in 8 hours', () => {
    const stages = table({ schedule: 'aggressive' });
    expect(stages).toEqual([
      ['1-percent', 1, 30 * MIN],
      ['5-percent', 5, HOUR],
      ['10-percent', 10, HOUR],
      ['25-percent', 25, 2 * HOUR],
      ['50-percent', 50, 2 * HOUR],
      ['100-percent', 100, 90 * MIN],
    ]);
    expect(stages.reduce((sum, [, , bake]) => sum + bake, 0)).toBe(8 * HOUR);
  });

  it('conservative: 0.1 → 1 → 5 → 10 → 25 → 50 → 100 % in three weeks', () => {
    const stages = table({ schedule: 'conservative' });
    expect(stages).toEqual([
      ['0.1-percent', 0.1, DAY],
      ['1-percent', 1, 2 * DAY],
      ['5-percent', 5, 3 * DAY],
      ['10-percent', 10, 3 * DAY],
      ['25-percent', 25, 4 * DAY],
      ['50-percent', 50, 4 * DAY],
      ['100-percent', 100, 4 * DAY],
    ]);
    expect(stages.reduce((sum, [, , bake]) => sum + bake, 0)).toBe(21 * DAY);
  });

  it('a plan\'s stages override a preset\'s by name, field by field', () => {
    const spec = rolloutOf({
      schedule: 'emergency',
      stages: [
        { name: '10-percent', audience: { region: ['us-east'] }, bake: '1h' },
        { name: '50-percent', minRequests: 5000, gates: { approval: 'required' } },
      ],
    });
    expect(spec.stages!.map((s) => ({ name: s.name, weight: s.weight, bake: s.bake, audience: s.audience, minRequests: s.minRequests, approval: s.approval }))).toEqual([
      { name: '10-percent', weight: 10, bake: HOUR, audience: { region: ['us-east'] }, minRequests: 0, approval: false },
      { name: '50-percent', weight: 50, bake: 10 * MIN, audience: null, minRequests: 5000, approval: true },
      { name: '100-percent', weight: 100, bake: 10 * MIN, audience: null, minRequests: 0, approval: false },
    ]);
    expect(spec.steps).toEqual([10, 50, 100]);
  });

  it('an override naming no preset stage, or one that lowers a weight, is a ConfigError at its path', () => {
    const issues = (rollout: Record<string, unknown>) => {
      try {
        rolloutOf(rollout);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
      }
      throw new Error('expected a ConfigError');
    };
    expect(issues({ schedule: 'emergency', stages: [{ name: 'ten', bake: '1h' }] })).toContain(
      'routes[0].rollout.stages[0].name: names no stage of schedule emergency (its stages: 10-percent, 50-percent, 100-percent)',
    );
    expect(issues({ schedule: 'aggressive', stages: [{ name: '10-percent', weight: 2 }] })).toContain("routes[0].rollout.stages[0].weight: must not be below the earlier stage's weight (5): rings only grow");
    expect(issues({ schedule: 'weekly' }).some((line) => line.startsWith('routes[0].rollout.schedule:'))).toBe(true);
  });
});

describe('plan view', () => {
  it('gives the current stage its bake left and the stages to come their expected times', () => {
    const spec = rolloutOf({ schedule: 'aggressive', stages: [{ name: '25-percent', gates: { approval: 'required' } }] });
    const start = new Date(Date.UTC(2026, 11, 1, 9));
    const begun = begin(idleStatus('rev', 0, start), 0, start);
    const status = afterInitialization(spec, begun.status, { confirmed: true, detail: '' }, { ok: true, detail: '' }, start).status;
    const now = new Date(start.getTime() + 10 * MIN);
    const plan = planView(spec, status, now)!;
    expect(plan.currentStage).toBe(0);
    expect(plan.stages[0]).toMatchObject({ state: 'current', bakeLeftMs: 20 * MIN, enteredAt: '2026-12-01T09:00:00.000Z', leftAt: '2026-12-01T09:30:00.000Z' });
    expect(plan.stages[1]).toMatchObject({ state: 'pending', enteredAt: '2026-12-01T09:30:00.000Z', leftAt: '2026-12-01T10:30:00.000Z' });
    expect(plan.stages[3]).toMatchObject({ approval: true });
    expect(plan.expectedEndAt).toBe('2026-12-01T17:00:00.000Z');
    const text = formatPlan('api', plan);
    expect(text).toContain('release plan (schedule aggressive), Progressing, done at the earliest 2026-12-01 17:00Z');
    expect(text).toMatch(/▶ 1 {2}1-percent .*30m .*current .*20m of bake left/);
    expect(text).toMatch(/ {2}4 {2}25-percent .*pending .*expected 2026-12-01 11:30Z → 2026-12-01 13:30Z {2}\[approval\]/);
  });

  it('is null for a rollout with plain steps', () => {
    const spec = rolloutOf({ stepWeights: [10, 50] });
    expect(planView(spec, idleStatus('rev', 0, new Date()), new Date())).toBeNull();
  });
});
