/**
 * No traffic, no verdict: windows without enough requests are inconclusive. With `inconclusive: hold` (the default)
 * the rollout holds its weight and never promotes, and carries on by itself once traffic comes back; with
 * `inconclusive: fail` every such window counts as failed, so the threshold rolls it back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoad } from '../helpers/load.js';
import { eventsOf, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

function routeWith(rollout: Record<string, unknown>) {
  return {
    name: 'api',
    stable: 'stable',
    canary: 'canary',
    weight: 0,
    rollout: { interval: '1s', stepWeights: [10, 30, 60], minRequests: 20, checks: [{ metric: 'success-rate', min: 99 }], ...rollout },
  };
}

describe('a rollout without traffic, inconclusive: hold', () => {
  let upstreams: TestUpstream[];
  let sg: StartedSplitgate;

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    // threshold 1: were an inconclusive window ever counted as a failure, this rollout would roll back at once.
    sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [routeWith({ threshold: 1 })],
    });
  });
  afterAll(async () => {
    await sg?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it('holds at the first step, paused by inconclusive windows, and neither promotes nor fails', async () => {
    const held = await waitForRollout(sg.adminUrl, 'api', 'three inconclusive windows', (s) => s.inconclusiveWindows >= 3 || s.phase === 'Succeeded' || s.phase === 'RolledBack', 8_000);
    expect(held).toMatchObject({ phase: 'Paused', pausedBy: 'inconclusive', step: 0, weight: 10, failedChecks: 0 });
    expect(held.message).toMatch(/^holding at 10 %: inconclusive \(3 in a row\): success-rate: too few requests \(canary 0, stable 0; need 20 each\)/);
    expect(held.lastWindow).toMatchObject({ weight: 10, verdict: 'inconclusive', results: [{ check: 'success-rate', result: 'inconclusive', value: null, sample: { canary: 0, stable: 0 } }] });
    expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ weight: 10, weightSource: 'rollout', killed: false });

    const actions = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout').map((e) => e.action);
    expect(actions.slice(0, 2)).toEqual(['rollout.started', 'rollout.step']);
    expect(actions.slice(2).every((a) => a === 'rollout.inconclusive')).toBe(true);
    expect(actions.length).toBeGreaterThanOrEqual(5);
  });

  it('moves on by itself once windows are conclusive again', async () => {
    const load = startLoad(sg.url, { concurrency: 6, durationMs: 15_000 });
    try {
      const moved = await waitForRollout(sg.adminUrl, 'api', 'the next step', (s) => s.step >= 1, 8_000);
      expect(moved).toMatchObject({ phase: 'Progressing', pausedBy: null, inconclusiveWindows: 0, weight: 30, failedChecks: 0 });
    } finally {
      await load.stop();
    }
  });
});

describe('a rollout without traffic, inconclusive: fail', () => {
  let upstreams: TestUpstream[];
  let sg: StartedSplitgate;

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [routeWith({ inconclusive: 'fail', threshold: 2 })],
    });
  });
  afterAll(async () => {
    await sg?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it('counts each inconclusive window as failed and rolls back at the threshold', async () => {
    const done = await waitForRollout(sg.adminUrl, 'api', 'the rollback', (s) => s.phase === 'RolledBack' || s.phase === 'Succeeded', 8_000);
    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0, failedChecks: 2, engagedKill: true });
    expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ weight: 0, killed: true });

    const events = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    expect(events.map((e) => e.action)).toEqual(['rollout.started', 'rollout.step', 'rollout.check_failed', 'rollout.rolled_back']);
    expect(events[2].message).toBe('window failed (1/2) at 10 %: inconclusive window counted as failed (inconclusive: fail)');
    expect(events[3].message).toBe('2 failed windows (threshold 2); last: inconclusive window counted as failed (inconclusive: fail)');
    expect(events[3].before).toMatchObject({ weight: 10, verdict: 'inconclusive', checks: [{ check: 'success-rate', result: 'inconclusive', sample: { canary: 0 } }] });
  });
});
