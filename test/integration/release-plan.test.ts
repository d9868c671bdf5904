/**
 * A release plan in a running splitgate: the first ring (a header audience) reaches the canary while everyone else
 * stays on stable, the stage waits in AwaitingApproval, `splitgate rollout plan` prints the timeline, `splitgate
 * rollout approve` (the CLI, through POST /routes/{name}/rollout/approve) moves it to the next stage, and the ring
 * stays in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { runCli } from '../helpers/process.js';
import { adminCall, rolloutOf, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

describe('release plan in a running splitgate', () => {
  let upstreams: TestUpstream[];
  let sg: StartedSplitgate;

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [
        {
          name: 'api',
          stable: 'stable',
          canary: 'canary',
          weight: 0,
          sticky: { key: ['header:x-user-id'] },
          rollout: {
            interval: '1s',
            stages: [
              { name: 'beta', audience: { header: { 'x-beta': 'true' } }, gates: { approval: 'required' } },
              { name: 'half', weight: 50, bake: '1h' },
            ],
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await sg?.stop();
    await Promise.all((upstreams ?? []).map((u) => u.close()));
  });

  async function versionOf(headers: Record<string, string>): Promise<string> {
    return (await send(sg.url, '/', { headers })).json<{ version: string }>().version;
  }

  it('routes the ring, waits for approval, prints the plan, and moves on at approve', async () => {
    await waitForRollout(sg.adminUrl, 'api', 'AwaitingApproval', (s) => s.phase === 'AwaitingApproval');
    expect(await versionOf({ 'x-user-id': 'u1', 'x-beta': 'true' })).toBe('canary');
    for (let i = 0; i < 20; i++) expect(await versionOf({ 'x-user-id': `u${i}` })).toBe('stable');

    const planned = await runCli(['rollout', 'plan', 'api', '--admin', sg.adminUrl]);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain('api: release plan, AwaitingApproval');
    expect(planned.stdout).toMatch(/▶ 1 {2}beta .*header x-beta=true.*current.*\[approval\]/);
    expect(planned.stdout).toMatch(/ {2}2 {2}half .*50 %.*1h .*pending/);

    const approved = await runCli(['rollout', 'approve', 'api', '--admin', sg.adminUrl]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('api: Progressing, step 2, canary at 50 %');
    const status = await rolloutOf(sg.adminUrl, 'api');
    expect(status).toMatchObject({ phase: 'Progressing', step: 1, weight: 50 });
    expect(status.plan.currentStage).toBe(1);
    expect(status.plan.stages[0]).toMatchObject({ name: 'beta', state: 'done' });
    expect(status.plan.stages[0].how).toContain('approved by an operator');
    // The ring stays in: every beta user keeps the canary at 50 %.
    for (let i = 0; i < 20; i++) expect(await versionOf({ 'x-user-id': `u${i}`, 'x-beta': 'true' })).toBe('canary');

    const again = await adminCall(sg.adminUrl, 'POST', '/routes/api/rollout/approve');
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT' } } });
    const plain = await adminCall(sg.adminUrl, 'GET', '/routes/nope/rollout/plan');
    expect(plain.status).toBe(404);
  });
});
