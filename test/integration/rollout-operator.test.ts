/**
 * Operator control of a running rollout through the admin API: pause (no step while paused), resume, abort
 * (weight 0 at once, kill switch on), restart and retry (back to the first step, kill switch lifted), promote; 409
 * for an action that conflicts with the phase, 404 for an unknown route, 409 for a route without a rollout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoad, type Load } from '../helpers/load.js';
import { adminCall, eventsOf, rolloutOf, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const STEPS = [10, 20, 30, 40, 50, 60];

async function act(sg: StartedSplitgate, action: string, route = 'api') {
  return adminCall(sg.adminUrl, 'POST', `/routes/${route}/rollout/${action}`);
}

describe('operator control of a rollout', () => {
  let upstreams: TestUpstream[];
  let sg: StartedSplitgate;
  let load: Load;

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [
        {
          name: 'api',
          match: { pathPrefix: '/' },
          stable: 'stable',
          canary: 'canary',
          weight: 0,
          rollout: { interval: '1s', stepWeights: STEPS, threshold: 3, minRequests: 10, checks: [{ metric: 'success-rate', min: 99 }] },
        },
        { name: 'manual', match: { pathPrefix: '/manual' }, stable: 'stable', canary: 'canary', weight: 5 },
      ],
    });
    load = startLoad(sg.url, { concurrency: 4, durationMs: 60_000 });
  });
  afterAll(async () => {
    await load?.stop();
    await sg?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it('pause holds the step while windows keep passing; resume carries on', async () => {
    await waitForRollout(sg.adminUrl, 'api', 'step 2', (s) => s.step >= 1);
    const paused = await act(sg, 'pause');
    expect(paused.status).toBe(200);
    expect(paused.body.rollout).toMatchObject({ phase: 'Paused', pausedBy: 'operator', resumePhase: 'Progressing' });
    const { step, weight } = paused.body.rollout;
    expect(weight).toBe(STEPS[step]);

    expect(await act(sg, 'pause')).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT' } } });
    expect(await act(sg, 'start')).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT' } } });

    // Three windows' worth of passing traffic: a paused rollout must not move.
    const until = Date.now() + 3_200;
    while (Date.now() < until) {
      expect(await rolloutOf(sg.adminUrl, 'api')).toMatchObject({ phase: 'Paused', pausedBy: 'operator', step, weight });
      expect((await routeStatus(sg.adminUrl, 'api')).weight).toBe(weight);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const resumed = await act(sg, 'resume');
    expect(resumed).toMatchObject({ status: 200, body: { rollout: { phase: 'Progressing', pausedBy: null, step, weight } } });
    expect(await act(sg, 'resume')).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT', message: expect.stringMatching(/only an operator pause can be resumed/) } } });
    await waitForRollout(sg.adminUrl, 'api', 'the next step after resume', (s) => s.step > step);
  });

  it('abort rolls back at once: weight 0 and the kill switch, before the call returns', async () => {
    const aborted = await act(sg, 'abort');
    expect(aborted).toMatchObject({ status: 200, body: { route: 'api', rollout: { phase: 'RolledBack', weight: 0, engagedKill: true, message: 'rolled back: aborted by an operator' } } });
    expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ weight: 0, killed: true, rollout: { phase: 'RolledBack' } });
    const forced = await startLoad(sg.url, { concurrency: 2, maxRequests: 40, headers: { 'x-canary': 'always' } }).done;
    expect(forced.byVersion).toEqual({ stable: 40 });

    expect(await act(sg, 'abort')).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT' } } });
    expect(await act(sg, 'pause')).toMatchObject({ status: 409 });
    expect(await act(sg, 'resume')).toMatchObject({ status: 409 });
  });

  it('restart starts over from the first step and lifts the kill switch the rollback engaged', async () => {
    const restarted = await act(sg, 'restart');
    expect(restarted.status).toBe(200);
    expect(restarted.body.rollout).toMatchObject({ phase: 'Initializing', step: -1, weight: 0, failedChecks: 0, engagedKill: false });
    const first = await waitForRollout(sg.adminUrl, 'api', 'the first step', (s) => s.phase === 'Progressing');
    expect(first).toMatchObject({ step: 0, weight: STEPS[0] });
    expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ killed: false });
    await waitForRollout(sg.adminUrl, 'api', 'step 2 after the restart', (s) => s.step >= 1);
  });

  it('promote goes to 100 % at once and ends the rollout; retry runs it again', async () => {
    const promoted = await act(sg, 'promote');
    expect(promoted).toMatchObject({ status: 200, body: { rollout: { phase: 'Succeeded', weight: 100, message: 'succeeded: promoted by an operator; canary at 100 %' } } });
    expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ weight: 100, weightSource: 'rollout', killed: false });
    const after = await startLoad(sg.url, { concurrency: 2, maxRequests: 40 }).done;
    expect(after.byVersion).toEqual({ canary: 40 });
    expect(await act(sg, 'promote')).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT', message: 'rollout already succeeded' } } });
    expect(await act(sg, 'abort')).toMatchObject({ status: 409 });

    const retried = await act(sg, 'retry');
    expect(retried).toMatchObject({ status: 200, body: { rollout: { phase: 'Initializing' } } });
    expect(await waitForRollout(sg.adminUrl, 'api', 'the first step again', (s) => s.phase === 'Progressing')).toMatchObject({ step: 0, weight: STEPS[0] });
    expect((await routeStatus(sg.adminUrl, 'api')).weight).toBe(STEPS[0]);
  });

  it('answers 404 for an unknown route, 409 for a route without a rollout, 400 for an unknown action', async () => {
    expect(await act(sg, 'pause', 'nope')).toMatchObject({ status: 404, body: { error: { code: 'SG_UNKNOWN_ROUTE' } } });
    expect(await act(sg, 'start', 'manual')).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT', message: 'route "manual" has no rollout block' } } });
    expect(await act(sg, 'explode')).toMatchObject({ status: 400, body: { error: { code: 'SG_INVALID' } } });
    expect((await adminCall(sg.adminUrl, 'GET', '/rollouts')).body.rollouts).not.toHaveProperty('manual');
    expect((await routeStatus(sg.adminUrl, 'manual')).rollout).toBeNull();
  });

  it('records who did what in /events', async () => {
    const events = await eventsOf(sg.adminUrl, 'api');
    const requested = events.filter((e) => e.action.endsWith('.requested'));
    expect(requested.map((e) => e.action)).toEqual(
      ['pause', 'resume', 'abort', 'restart', 'promote', 'retry'].map((a) => `rollout.${a}.requested`),
    );
    expect(requested.every((e) => e.actor.startsWith('rollout-test@'))).toBe(true);
    const byRollout = events.filter((e) => e.actor === 'rollout').map((e) => e.action);
    for (const action of ['rollout.paused', 'rollout.resumed', 'rollout.rolled_back', 'rollout.restart', 'rollout.succeeded', 'rollout.retry']) {
      expect(byRollout).toContain(action);
    }
  });
});
