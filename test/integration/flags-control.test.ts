/**
 * Runtime control of flags (issue 18) on a real splitgate with `workers: 2` (dist/bin.js) and a state file: a flag
 * killed with `PUT /flags/{key}` is DISABLED on the very next request on every worker (absent from the flags
 * header, FLAG_NOT_FOUND over OFREP), a pinned variant is every evaluation's (STATIC), `DELETE` returns to the file,
 * overrides survive a restart, a reload that removes a pinned variant drops the override, bad input is refused
 * with stable codes, and `splitgate flag ...` drives the same API.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send, type Received } from '../helpers/http.js';
import { createTempDir, killIfRunning, runCli, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { adminCall } from '../helpers/rollout.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { requestsPerWorker, servedSince, supervisorStatus } from '../helpers/workers.js';

/** Keep-alive connections opened before a change, so the first request after it lands on workers already serving. */
const CONNECTIONS = 16;
const HEADER = 'x-splitgate-flags';

const FLAGS = {
  beta: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
  theme: { state: 'ENABLED', variants: { light: 'light', dark: 'dark', contrast: 'contrast' }, defaultVariant: 'light', targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'dark'] } },
};

let stable: TestUpstream;
let dir: TempDir;
let sg: SplitgateProcess | undefined;
let configFile: string;
let agents: Agent[] = [];

function configWith(flags: Record<string, unknown>): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    workers: 2,
    watch: false,
    state: { file: 'state/runtime.json' },
    upstreams: { stable: stable.url },
    flags: { definitions: { flags }, context: { plan: 'header:x-plan' }, ofrep: {} },
    routes: [{ name: 'api', stable: 'stable', sticky: { key: ['header:x-user-id'] } }],
  };
}

beforeAll(async () => {
  stable = await startUpstream('stable');
  dir = createTempDir();
  configFile = dir.writeConfig('flags-control.yaml', configWith(FLAGS));
  sg = await spawnSplitgate(configFile);
});

afterAll(async () => {
  for (const agent of agents) agent.destroy();
  await killIfRunning(sg);
  await stable?.close();
  dir?.remove();
});

/** The flags header the upstream received for one request, as a map: `beta=?1, theme="dark"` → {beta: '?1', theme: '"dark"'}. */
function flagsSent(reply: Received): Record<string, string> {
  expect(reply.status).toBe(200);
  const header = (reply.json() as { headers: Record<string, string | undefined> }).headers[HEADER] ?? '';
  return Object.fromEntries(header.split(', ').filter(Boolean).map((member) => member.split('=') as [string, string]));
}

/** Opens CONNECTIONS keep-alive connections (one request each), spread over the workers by the kernel or cluster. */
async function openConnections(): Promise<void> {
  for (const agent of agents) agent.destroy();
  agents = Array.from({ length: CONNECTIONS }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  await Promise.all(agents.map((agent, i) => send(sg!.url, `/warm/${i}`, { agent, headers: { 'x-user-id': `warm-${i}` } })));
}

/** One request on each open connection at once, the first after a change: what each worker does now. */
async function firstRequestOnEveryConnection(headers: (i: number) => Record<string, string> = (i) => ({ 'x-user-id': `user-${i}` })): Promise<Received[]> {
  const before = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []);
  const replies = await Promise.all(agents.map((agent, i) => send(sg!.url, `/next/${i}`, { agent, headers: headers(i) })));
  const served = servedSince(before, (await supervisorStatus(sg!.adminUrl)).workers ?? []);
  expect(served.filter((n) => n > 0).length, `requests per worker: ${served.join(', ')}`).toBe(2);
  return replies;
}

function ofrep(key: string | null, context: Record<string, unknown>): Promise<Received> {
  return send(sg!.url, `/ofrep/v1/evaluate/flags${key === null ? '' : `/${key}`}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ context }),
  });
}

async function flagEntry(key: string): Promise<any> {
  return (await adminCall(sg!.adminUrl, 'GET', '/flags')).body.flags.find((flag: { key: string }) => flag.key === key);
}

describe('flag runtime control, workers: 2', () => {
  it('before any override, the file decides: beta splits, theme follows its rule', async () => {
    await openConnections();
    const sent = (await firstRequestOnEveryConnection()).map(flagsSent);
    expect(new Set(sent.map((flags) => flags.beta))).toEqual(new Set(['?1', '?0']));
    expect(sent.every((flags) => flags.theme === '"light"')).toBe(true);
  });

  it('a killed flag is DISABLED on the very next request on every worker: not in the header, FLAG_NOT_FOUND over OFREP', async () => {
    const killed = await adminCall(sg!.adminUrl, 'PUT', '/flags/beta', { state: 'DISABLED' });
    expect(killed.status).toBe(200);
    expect(killed.body).toMatchObject({ flag: 'beta', override: { state: 'DISABLED' }, workers: { acknowledged: 2, unacknowledged: [] } });

    const sent = (await firstRequestOnEveryConnection()).map(flagsSent);
    expect(sent.every((flags) => !('beta' in flags) && flags.theme === '"light"')).toBe(true);

    const answers = await inParallel(8, 8, (i) => ofrep('beta', { targetingKey: `user-${i}` }));
    expect(answers.map((a) => [a.status, a.json().errorCode])).toEqual(Array.from({ length: 8 }, () => [404, 'FLAG_NOT_FOUND']));
    const bulk = (await ofrep(null, { targetingKey: 'user-1' })).json() as { flags: Array<{ key: string }> };
    expect(bulk.flags.map((flag) => flag.key)).toEqual(['theme']);

    const view = await flagEntry('beta');
    expect(view).toMatchObject({ file: { state: 'ENABLED', defaultVariant: 'off' }, override: { state: 'DISABLED' }, effective: { state: 'DISABLED', pinned: null } });
    expect(view.evaluations.reasons.DISABLED).toBeGreaterThanOrEqual(CONNECTIONS);
  });

  it('a pinned variant is every evaluation, with reason STATIC, whatever the targeting says', async () => {
    const pinned = await adminCall(sg!.adminUrl, 'PUT', '/flags/theme', { defaultVariant: 'contrast' });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ flag: 'theme', override: { defaultVariant: 'contrast' }, workers: { acknowledged: 2 } });

    const sent = (await firstRequestOnEveryConnection((i) => ({ 'x-user-id': `user-${i}`, 'x-plan': i % 2 === 0 ? 'pro' : 'free' }))).map(flagsSent);
    expect(sent.every((flags) => flags.theme === '"contrast"')).toBe(true);
    const answer = (await ofrep('theme', { targetingKey: 'user-1', plan: 'pro' })).json();
    expect(answer).toMatchObject({ key: 'theme', value: 'contrast', variant: 'contrast', reason: 'STATIC' });

    const view = await flagEntry('theme');
    expect(view.effective).toEqual({ state: 'ENABLED', defaultVariant: 'contrast', pinned: 'contrast' });
    expect(view.variants).toEqual({ light: 'light', dark: 'dark', contrast: 'contrast' });
    expect(view.evaluations.variants.contrast).toBeGreaterThanOrEqual(CONNECTIONS);
    expect(view.evaluations.shares.light + view.evaluations.shares.contrast).toBeCloseTo(1, 3);
  });

  it('records each change in the event log', async () => {
    const events = (await adminCall(sg!.adminUrl, 'GET', '/events?limit=20')).body.events as Array<{ action: string; before: any; after: any }>;
    const flagEvents = events.filter((event) => event.action.startsWith('flag.')).reverse();
    expect(flagEvents.map((event) => [event.action, event.after.flag, event.after.override])).toEqual([
      ['flag.override_set', 'beta', { state: 'DISABLED' }],
      ['flag.override_set', 'theme', { defaultVariant: 'contrast' }],
    ]);
  });

  it('refuses bad input with stable codes and changes nothing', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PUT', '/flags/nope', { state: 'DISABLED' }, 404, 'SG_UNKNOWN_FLAG'],
      ['DELETE', '/flags/nope', undefined, 404, 'SG_UNKNOWN_FLAG'],
      ['PUT', '/flags/theme', { defaultVariant: 'neon' }, 400, 'SG_UNKNOWN_VARIANT'],
      ['PUT', '/flags/theme', { state: 'OFF' }, 400, 'SG_INVALID'],
      ['PUT', '/flags/theme', { state: 'DISABLED', defaultVariant: 'dark' }, 400, 'SG_INVALID'],
      ['PUT', '/flags/theme', { variant: 'dark' }, 400, 'SG_INVALID'],
      ['PUT', '/flags/theme', undefined, 400, 'SG_INVALID'],
      ['POST', '/flags/theme', { state: 'DISABLED' }, 405, 'SG_METHOD_NOT_ALLOWED'],
      ['DELETE', '/routes/api/kill', undefined, 405, 'SG_METHOD_NOT_ALLOWED'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const reply = await adminCall(sg!.adminUrl, method, path, body);
      expect({ method, path, body, status: reply.status, code: reply.body?.error?.code }).toEqual({ method, path, body, status, code });
    }
    const badJson = await fetch(`${sg!.adminUrl}/flags/theme`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"state":' });
    expect([badJson.status, ((await badJson.json()) as { error: { code: string } }).error.code]).toEqual([400, 'SG_INVALID']);
    expect((await flagEntry('theme')).override).toEqual({ defaultVariant: 'contrast' });
  });

  it('overrides survive a restart: in force on the first request of the new process', async () => {
    const saved = JSON.parse(readFileSync(join(dir.path, 'state/runtime.json'), 'utf8')) as { flags?: unknown };
    expect(saved.flags).toEqual({ beta: { state: 'DISABLED' }, theme: { defaultVariant: 'contrast' } });
    expect((await sg!.stop()).code).toBe(0);
    sg = await spawnSplitgate(configFile);

    await openConnections();
    const sent = (await firstRequestOnEveryConnection()).map(flagsSent);
    expect(sent.every((flags) => !('beta' in flags) && flags.theme === '"contrast"')).toBe(true);
    expect((await flagEntry('beta')).override).toEqual({ state: 'DISABLED' });
  });

  it('DELETE returns to the file on the very next request', async () => {
    const cleared = await adminCall(sg!.adminUrl, 'DELETE', '/flags/beta');
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ flag: 'beta', override: null, workers: { acknowledged: 2 } });
    const sent = (await firstRequestOnEveryConnection()).map(flagsSent);
    expect(new Set(sent.map((flags) => flags.beta))).toEqual(new Set(['?1', '?0']));
    expect((await flagEntry('beta')).effective).toMatchObject({ state: 'ENABLED', pinned: null });
  });

  it('a reload that removes the pinned variant drops the override, with an event', async () => {
    const { contrast: _gone, ...variants } = FLAGS.theme.variants;
    dir.writeConfig('flags-control.yaml', configWith({ ...FLAGS, theme: { ...FLAGS.theme, variants } }));
    expect((await adminCall(sg!.adminUrl, 'POST', '/reload')).status).toBe(200);

    const sent = (await firstRequestOnEveryConnection()).map(flagsSent);
    expect(sent.every((flags) => flags.theme === '"light"')).toBe(true);
    expect((await flagEntry('theme')).override).toBeNull();
    const events = (await adminCall(sg!.adminUrl, 'GET', '/events?limit=5')).body.events as Array<{ action: string; after: any; message: string }>;
    const dropped = events.find((event) => event.action === 'flag.override_dropped');
    expect(dropped).toMatchObject({ after: { flag: 'theme', override: null } });
    expect(dropped!.message).toContain('no variant "contrast"');
    dir.writeConfig('flags-control.yaml', configWith(FLAGS));
    expect((await adminCall(sg!.adminUrl, 'POST', '/reload')).status).toBe(200);
  });

  it('splitgate flag off|on|set|clear|list drives the same API', async () => {
    const cli = (...args: string[]) => runCli(['flag', ...args, '--admin', sg!.adminUrl]);
    const off = await cli('off', 'beta');
    expect([off.code, off.stdout]).toEqual([0, expect.stringContaining('beta: KILLED (DISABLED)')]);
    expect(flagsSent(await send(sg!.url, '/cli/1', { headers: { 'x-user-id': 'cli' } }))).not.toHaveProperty('beta');

    const set = await cli('set', 'theme', 'dark');
    expect([set.code, set.stdout]).toEqual([0, expect.stringContaining('theme: PINNED to "dark"')]);
    expect(flagsSent(await send(sg!.url, '/cli/2', { headers: { 'x-user-id': 'cli' } })).theme).toBe('"dark"');

    const list = await cli('list');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^beta: KILLED \(DISABLED\) \(file: ENABLED default off\); \d+ evaluations/m);
    expect(list.stdout).toMatch(/^theme: PINNED to "dark"/m);

    const unknown = await cli('set', 'theme', 'neon');
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('400 SG_UNKNOWN_VARIANT')]);
    const usage = await cli('set', 'theme');
    expect(usage.code).toBe(2);

    const on = await cli('on', 'beta');
    expect([on.code, on.stdout]).toEqual([0, expect.stringContaining('beta: forced ENABLED')]);
    expect(flagsSent(await send(sg!.url, '/cli/3', { headers: { 'x-user-id': 'cli' } }))).toHaveProperty('beta');
    for (const key of ['beta', 'theme']) {
      const clear = await cli('clear', key);
      expect([clear.code, clear.stdout]).toEqual([0, expect.stringContaining(`${key}: as the flag file defines it`)]);
    }
    expect(Object.keys((JSON.parse(readFileSync(join(dir.path, 'state/runtime.json'), 'utf8')) as { flags?: object }).flags ?? {})).toEqual([]);
  });
});
