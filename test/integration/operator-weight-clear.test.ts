/**
 * An operator's weight outlives reloads (it is runtime state, like a kill switch), so a config weight edited
 * meanwhile used to change nothing, silently, with no way back to the config's. Now the reload says so, and
 * DELETE /routes/{name}/weight (`splitgate weight ROUTE --clear`) returns the route to its config weight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;

function config(weight: number): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    state: { file: false },
    watch: false,
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight }],
  };
}

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  proxy = await startSplitgate(config(0));
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

async function routeView(): Promise<{ weight: number; weightSource: string; configWeight: number }> {
  const status = (await send(proxy.adminUrl, '/status')).json<{ routes: Array<{ name: string; weight: number; weightSource: string; configWeight: number }> }>();
  return status.routes.find((route) => route.name === 'api')!;
}

async function versions(count = 20): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add((await send(proxy.url, `/r${i}`)).json<{ version: string }>().version);
  return seen;
}

describe('an operator weight and the config weight', () => {
  it('a reload that changes a config weight an operator weight overrides says so; DELETE goes back to the config', async () => {
    expect((await send(proxy.adminUrl, '/routes/api/weight', { method: 'PUT', body: JSON.stringify({ weight: 100 }) })).status).toBe(200);
    expect(await versions()).toEqual(new Set(['canary']));
    const outcome = proxy.splitgate.controller.applyConfig(validateConfig(config(0.5)), 'test');
    expect(outcome.ok).toBe(true);
    expect(outcome.warnings).toEqual(['route api: config weight 0 -> 0.5 not in force: an operator set 100 (DELETE /routes/api/weight, or splitgate weight api --clear, returns it to the config\'s)']);
    expect(await routeView()).toMatchObject({ weight: 100, weightSource: 'operator', configWeight: 0.5 });

    const cleared = await send(proxy.adminUrl, '/routes/api/weight', { method: 'DELETE' });
    expect(cleared.status).toBe(200);
    expect(await routeView()).toMatchObject({ weight: 0.5, weightSource: 'config' });
    // 0.5 %: the route is not sticky, so each request is its own draw; all 20 on the canary has odds 0.005^20.
    expect((await versions()).has('stable')).toBe(true);
    const events = (await send(proxy.adminUrl, '/events')).json<{ events: Array<{ action: string; route?: string }> }>().events;
    expect(events.some((event) => event.action === 'weight.cleared' && event.route === 'api')).toBe(true);
  });

  it('DELETE with no operator weight is a conflict, and a reload with none set warns of nothing', async () => {
    const answer = await send(proxy.adminUrl, '/routes/api/weight', { method: 'DELETE' });
    expect(answer.status).toBe(409);
    const outcome = proxy.splitgate.controller.applyConfig(validateConfig(config(0)), 'test');
    expect(outcome).toMatchObject({ ok: true });
    expect(outcome.warnings ?? []).toEqual([]);
    expect((await send(proxy.adminUrl, '/routes/api/weight', { method: 'GET' })).status).toBe(405);
  });
});
