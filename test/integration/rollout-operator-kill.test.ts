/**
 * A rollout lifts only the kill switch its own rollback engaged. An operator's kill stays in force through a new
 * rollout (a new revision, `rollout/restart`, `rollout/retry`), which holds until an operator resumes: "a killed
 * canary stays killed". Found by review: after a rollback, an operator's resume then kill, a new revision's
 * rollout sent the canary 20 % again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { adminCall, eventsOf, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const rollout = { interval: '1s', stepWeights: [20, 50], threshold: 2, minRequests: 1_000, checks: [{ metric: 'success-rate', min: 99 }] };

/** A rollout begun but held by a kill switch: still before its first step after two analysis intervals. */
async function expectHeld(admin: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  expect(await routeStatus(admin, 'api')).toMatchObject({ killed: true, rollout: { phase: 'Initializing', engagedKill: false } });
}

/** Requests by version, all carrying the canary override (which only a kill switch refuses). */
async function versionsOf(url: string, count: number): Promise<Record<string, number>> {
  return (await startLoad(url, { concurrency: 2, maxRequests: count, headers: { 'x-canary': 'always' } }).done).byVersion;
}

describe('operator kill switch and rollout actions', () => {
  let upstreams: TestUpstream[];
  let sg: StartedSplitgate | undefined;

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
  });
  afterEach(async () => {
    await sg?.stop();
    sg = undefined;
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const start = async () => {
    sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 0, rollout }],
    });
    await waitForRollout(sg.adminUrl, 'api', 'the first step', (s) => s.phase === 'Progressing' && s.weight === 20, 5_000);
    return sg.adminUrl;
  };

  it('control: restart after a rollback lifts the rollback\'s own kill and starts again', async () => {
    const admin = await start();
    expect((await adminCall(admin, 'POST', '/routes/api/rollout/abort')).status).toBe(200);
    expect(await routeStatus(admin, 'api')).toMatchObject({ weight: 0, killed: true });
    expect((await adminCall(admin, 'POST', '/routes/api/rollout/restart')).status).toBe(200);
    await waitForRollout(admin, 'api', 'the restarted rollout', (s) => s.phase === 'Progressing' && s.weight === 20, 5_000);
    expect(await routeStatus(admin, 'api')).toMatchObject({ weight: 20, killed: false });
  });

  it.each(['restart', 'retry'])('a kill made after the rollback (resume, then kill) survives rollout/%s', async (action) => {
    const admin = await start();
    expect((await adminCall(admin, 'POST', '/routes/api/rollout/abort')).status).toBe(200);
    expect((await adminCall(admin, 'POST', '/routes/api/resume')).status).toBe(200);
    expect((await adminCall(admin, 'POST', '/routes/api/kill')).status).toBe(200);
    expect((await adminCall(admin, 'POST', `/routes/api/rollout/${action}`)).status).toBe(200);
    // A new rollout, held by the operator's kill before its first step (windows go by): nothing reaches the canary.
    await expectHeld(admin);
    expect(await versionsOf(sg!.url, 20)).toEqual({ stable: 20 });
    // The operator lifts it: the rollout goes on.
    expect((await adminCall(admin, 'POST', '/routes/api/resume')).status).toBe(200);
    await waitForRollout(admin, 'api', 'the first step', (s) => s.phase === 'Progressing' && s.weight === 20, 5_000);
    expect(await routeStatus(admin, 'api')).toMatchObject({ weight: 20, killed: false });
    expect(await versionsOf(sg!.url, 5)).toEqual({ canary: 5 });
  });

  it('a kill made while the rollout progressed survives its abort and a restart', async () => {
    const admin = await start();
    expect((await adminCall(admin, 'POST', '/routes/api/kill')).status).toBe(200);
    expect((await adminCall(admin, 'POST', '/routes/api/rollout/abort')).status).toBe(200);
    expect((await adminCall(admin, 'POST', '/routes/api/rollout/restart')).status).toBe(200);
    await expectHeld(admin);
    expect(await versionsOf(sg!.url, 20)).toEqual({ stable: 20 });
  });
});

describe('operator kill switch across a new revision and a restart (child process, state file)', () => {
  let upstreams: TestUpstream[];
  let dir: TempDir;
  let instance: SplitgateProcess | undefined;

  const writeConfig = (revision: string) =>
    dir.writeConfig('splitgate.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      state: { file: 'state/runtime.json' },
      watch: false,
      log: { level: 'info', accessLog: { enabled: false } },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 0, rollout: { ...rollout, revision } }],
    });
  const persisted = () => {
    const file = join(dir.path, 'state/runtime.json');
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).routes.api : undefined;
  };

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    dir = createTempDir();
  });
  afterAll(async () => {
    await killIfRunning(instance);
    await Promise.all(upstreams.map((u) => u.close()));
    dir?.remove();
  });

  it('rollback, resume, kill, then a new revision: the canary stays killed, also after a restart', async () => {
    instance = await spawnSplitgate(writeConfig('v1'));
    let admin = instance.adminUrl;
    await waitForRollout(admin, 'api', 'the first step', (s) => s.phase === 'Progressing' && s.weight === 20, 5_000);
    expect((await adminCall(admin, 'POST', '/routes/api/rollout/abort')).status).toBe(200);
    await waitFor('the rollback\'s kill saved', () => persisted()?.killedBy === 'rollout');
    expect((await adminCall(admin, 'POST', '/routes/api/resume')).status).toBe(200);
    expect((await adminCall(admin, 'POST', '/routes/api/kill')).status).toBe(200);
    await waitFor('the operator\'s kill saved', () => persisted()?.killed === true && persisted()?.killedBy === 'operator');
    // A restart here reads the file back: the rollout status beside the kill still says its rollback engaged one.
    expect(await instance.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    instance = await spawnSplitgate(join(dir.path, 'splitgate.yaml'));
    admin = instance.adminUrl;

    writeConfig('v2');
    expect(await adminCall(admin, 'POST', '/reload')).toMatchObject({ status: 200, body: { ok: true } });
    await waitForRollout(admin, 'api', 'the v2 rollout', (s) => s.revision.endsWith('#v2'), 5_000);
    await expectHeld(admin);
    expect(await versionsOf(instance.url, 10)).toEqual({ stable: 10 });
    // Nothing lifted it since the restart (the event log is this process's).
    expect((await eventsOf(admin, 'api')).filter((e) => e.action === 'resume')).toEqual([]);

    expect(await instance.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    instance = await spawnSplitgate(join(dir.path, 'splitgate.yaml'));
    expect(await routeStatus(instance.adminUrl, 'api')).toMatchObject({ killed: true });
    expect(await versionsOf(instance.url, 10)).toEqual({ stable: 10 });
  });
});
