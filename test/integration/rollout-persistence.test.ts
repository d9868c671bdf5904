/**
 * Rollout progress survives a restart: splitgate runs as a child process with a state file, is stopped (SIGTERM)
 * at step 2 and started again with the same config, and carries on from step 2's weight, never higher and not
 * from scratch. A new `rollout.revision` (by POST /reload or by a restart) starts a new rollout at the first step.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/http.js';
import { startLoad, type Load } from '../helpers/load.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { adminCall, eventsOf, rolloutOf, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const STEPS = [10, 30, 60];

describe('rollout progress across restarts', () => {
  let upstreams: TestUpstream[];
  let dir: TempDir;
  let configFile: string;
  let instance: SplitgateProcess | undefined;
  let load: Load | undefined;

  const writeConfig = (revision: string) =>
    dir.writeConfig('splitgate.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      state: { file: 'state/runtime.json' },
      watch: false,
      log: { level: 'info', accessLog: { enabled: false } },
      shutdown: { drainTimeout: '2s' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [
        {
          name: 'api',
          stable: 'stable',
          canary: 'canary',
          weight: 0,
          rollout: { revision, interval: '2s', stepWeights: STEPS, threshold: 2, minRequests: 10, checks: [{ metric: 'success-rate', min: 99 }] },
        },
      ],
    });
  const persisted = () => {
    const file = join(dir.path, 'state/runtime.json');
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).routes.api : undefined;
  };

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    dir = createTempDir();
    configFile = writeConfig('v1');
  });
  afterAll(async () => {
    await load?.stop();
    await killIfRunning(instance);
    await Promise.all(upstreams.map((u) => u.close()));
    dir?.remove();
  });

  it('stopped at step 2, it resumes at step 2 after a restart and carries on from there', async () => {
    instance = await spawnSplitgate(configFile);
    load = startLoad(instance.url, { concurrency: 4, durationMs: 20_000 });
    const atStep2 = await waitForRollout(instance.adminUrl, 'api', 'step 2', (s) => s.step >= 1, 15_000);
    await load.stop();
    expect(atStep2).toMatchObject({ phase: 'Progressing', step: 1, weight: 30 });
    const revision = atStep2.revision;
    expect(revision).toBe(`${upstreams[1].url}#v1`);
    await waitFor('step 2 in the state file', () => persisted()?.rollout?.step === 1);
    expect(persisted()).toMatchObject({ weight: 30, weightSource: 'rollout', rollout: { revision, phase: 'Progressing', step: 1, weight: 30 } });
    expect(await instance.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    instance = await spawnSplitgate(configFile);
    expect(instance.logLines.some((l) => l.msg === 'runtime state restored')).toBe(true);
    // In force before any window of the new process: step 2's weight, the same revision.
    expect(await rolloutOf(instance.adminUrl, 'api')).toMatchObject({ revision, phase: 'Progressing', step: 1, weight: 30 });
    expect(await routeStatus(instance.adminUrl, 'api')).toMatchObject({ weight: 30, weightSource: 'rollout', killed: false });

    // With traffic again it goes on to 60 % and 100 %, never back to the first step nor above the next one.
    load = startLoad(instance.url, { concurrency: 4, durationMs: 20_000 });
    const weights: number[] = [];
    const done = await waitForRollout(instance.adminUrl, 'api', 'the promotion', (s) => {
      if (weights.at(-1) !== s.weight) weights.push(s.weight);
      return s.phase === 'Succeeded' || s.phase === 'RolledBack';
    });
    await load.stop();
    expect(done).toMatchObject({ revision, phase: 'Succeeded', weight: 100 });
    expect(weights).toEqual([30, 60, 100]);
    const actions = (await eventsOf(instance.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    expect(actions.map((e) => e.action)).not.toContain('rollout.started');
    expect(actions.filter((e) => e.action === 'rollout.step').map((e) => e.after.weight)).toEqual([60]);
  });

  it('a finished rollout stays finished across a restart with the same revision', async () => {
    await instance!.stop('SIGTERM');
    instance = await spawnSplitgate(configFile);
    expect(await rolloutOf(instance.adminUrl, 'api')).toMatchObject({ phase: 'Succeeded', weight: 100 });
    expect((await routeStatus(instance.adminUrl, 'api')).weight).toBe(100);
  });

  it('a new rollout.revision applied by POST /reload starts a new rollout from the first step', async () => {
    configFile = writeConfig('v2');
    const reload = await adminCall(instance!.adminUrl, 'POST', '/reload');
    expect(reload).toMatchObject({ status: 200, body: { ok: true } });
    const fresh = await waitForRollout(instance!.adminUrl, 'api', 'the new rollout', (s) => s.revision.endsWith('#v2') && s.phase !== 'Idle' && s.phase !== 'Initializing', 5_000);
    expect(fresh).toMatchObject({ revision: `${upstreams[1].url}#v2`, phase: 'Progressing', step: 0, weight: STEPS[0], failedChecks: 0 });
    expect((await routeStatus(instance!.adminUrl, 'api')).weight).toBe(STEPS[0]);
    const started = (await eventsOf(instance!.adminUrl, 'api')).filter((e) => e.action === 'rollout.started');
    expect(started.map((e) => e.message)).toEqual([`rollout of revision ${upstreams[1].url}#v2 started at 0 %`]);
  });

  it('a new rollout.revision picked up by a restart starts a new rollout from the first step', async () => {
    await instance!.stop('SIGTERM');
    configFile = writeConfig('v3');
    instance = await spawnSplitgate(configFile);
    const fresh = await waitForRollout(instance.adminUrl, 'api', 'the new rollout', (s) => s.phase !== 'Idle' && s.phase !== 'Initializing', 5_000);
    expect(fresh).toMatchObject({ revision: `${upstreams[1].url}#v3`, phase: 'Progressing', step: 0, weight: STEPS[0] });
    expect((await routeStatus(instance.adminUrl, 'api')).weight).toBe(STEPS[0]);
    await waitFor('the new revision in the state file', () => persisted()?.rollout?.revision?.endsWith('#v3') === true);
    expect(await instance.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
