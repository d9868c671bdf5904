import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { Splitgate } from '../../src/splitgate.js';
import { send } from '../helpers/http.js';
import { createTempDir, killIfRunning, runCli, spawnSplitgate, type SplitgateProcess } from '../helpers/process.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const TOKEN = 'integration-token';

async function versionOf(url: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(url, { headers });
  return ((await response.json()) as { version: string }).version;
}

async function admin(base: string, method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const response = await fetch(base + path, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), 'x-actor': 'tester' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('admin API', () => {
  let upstreams: TestUpstream[];
  let sg: StartedSplitgate;

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    sg = await startSplitgate({
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [
        { name: 'api', stable: 'stable', canary: 'canary', weight: 0 },
        { name: 'plain', match: { pathPrefix: '/plain' }, stable: 'stable' },
      ],
    });
  });
  afterAll(async () => {
    await sg?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it('refuses mutations without the token or with a wrong one, and changes nothing', async () => {
    expect(await admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight: 100 }, null)).toMatchObject({ status: 401, body: { error: { code: 'SG_UNAUTHORIZED' } } });
    expect(await admin(sg.adminUrl, 'POST', '/routes/api/kill', undefined, 'wrong')).toMatchObject({ status: 401 });
    const basic = await fetch(`${sg.adminUrl}/routes/api/kill`, { method: 'POST', headers: { authorization: `Basic ${TOKEN}` } });
    expect(basic.status).toBe(401);
    expect((await admin(sg.adminUrl, 'GET', '/status')).body.routes[0]).toMatchObject({ weight: 0, killed: false });
  });

  it('validates every mutation', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PUT', '/routes/api/weight', { weight: 101 }, 400, 'SG_INVALID'],
      ['PUT', '/routes/api/weight', { weight: 'high' }, 400, 'SG_INVALID'],
      ['PUT', '/routes/api/weight', { wieght: 5 }, 400, 'SG_INVALID'],
      ['PUT', '/routes/api/weight', { weight: 1.234 }, 400, 'SG_INVALID'],
      ['PUT', '/routes/api/weight', { weight: 10, extra: 1 }, 400, 'SG_INVALID'],
      ['PUT', '/routes/nope/weight', { weight: 5 }, 404, 'SG_UNKNOWN_ROUTE'],
      ['POST', '/routes/nope/kill', undefined, 404, 'SG_UNKNOWN_ROUTE'],
      ['POST', '/routes/plain/kill', undefined, 409, 'SG_CONFLICT'],
      ['POST', '/routes/api/resume', undefined, 409, 'SG_CONFLICT'],
      ['POST', '/routes/api/explode', undefined, 404, 'SG_NOT_FOUND'],
      ['PATCH', '/routes/api/weight', undefined, 405, 'SG_METHOD_NOT_ALLOWED'],
      ['DELETE', '/routes/api/weight', undefined, 409, 'SG_CONFLICT'],
      ['DELETE', '/routes/nope/weight', undefined, 404, 'SG_UNKNOWN_ROUTE'],
      ['DELETE', '/routes/api/kill', undefined, 405, 'SG_METHOD_NOT_ALLOWED'],
      ['POST', '/reload', undefined, 409, 'SG_CONFLICT'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const result = await admin(sg.adminUrl, method, path, body);
      expect({ method, path, status: result.status, code: result.body.error?.code }).toEqual({ method, path, status, code });
    }
    const invalidJson = await fetch(`${sg.adminUrl}/routes/api/weight`, { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}` }, body: '{"weight":' });
    expect(invalidJson.status).toBe(400);
  });

  it('a weight change and the kill switch apply to the very next request', async () => {
    expect(await admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight: 100 })).toMatchObject({ status: 200, body: { weight: 100, weightSource: 'operator' } });
    expect(await versionOf(sg.url)).toBe('canary');
    expect((await admin(sg.adminUrl, 'POST', '/routes/api/kill')).body).toMatchObject({ killed: true });
    // Overrides do not bring a killed canary back.
    expect(await versionOf(sg.url, { 'x-canary': 'always' })).toBe('stable');
    const versions = await Promise.all(Array.from({ length: 20 }, () => versionOf(sg.url)));
    expect(new Set(versions)).toEqual(new Set(['stable']));
    expect((await admin(sg.adminUrl, 'POST', '/routes/api/promote')).status).toBe(409);
    expect((await admin(sg.adminUrl, 'POST', '/routes/api/resume')).body).toMatchObject({ killed: false, weight: 100 });
    expect(await versionOf(sg.url)).toBe('canary');
    await admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight: 0 });
  });

  it('status, config, events and metrics reflect the changes', async () => {
    const status = (await admin(sg.adminUrl, 'GET', '/status')).body;
    expect(status.generation).toBeGreaterThan(1);
    expect(status.configHash).toMatch(/^[0-9a-f]{16}$/);
    expect(status.listening).toBe('single');
    expect(status.routes[0]).toMatchObject({ name: 'api', weight: 0, weightSource: 'operator', configWeight: 0, killed: false });
    expect(status.routes[0].versions.stable.requests).toBeGreaterThan(0);
    expect(status.routes[0].versions.canary.successRate).toBe(100);

    const config = (await admin(sg.adminUrl, 'GET', '/config')).body;
    expect(config.admin.token).toBe('[redacted]');
    expect(JSON.stringify(config)).not.toContain(TOKEN);

    const events = (await admin(sg.adminUrl, 'GET', '/events?route=api')).body.events;
    expect(events.map((e: { action: string }) => e.action)).toEqual(['weight.set', 'resume', 'kill', 'weight.set']);
    expect(events[2]).toMatchObject({ actor: expect.stringMatching(/^tester@/), before: { killed: false }, after: { killed: true } });

    const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    expect(metrics).toContain('splitgate_route_weight{route="api"} 0');
    expect(metrics).toMatch(new RegExp(`splitgate_config_info\\{generation="${status.generation}",hash="${status.configHash}"\\} 1`));
  });

  it('concurrent weight changes all land, in order, and the last one is in force', async () => {
    const results = await Promise.all([10, 20, 30, 40, 50].map((weight) => admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight })));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const generations = results.map((r) => r.body.generation as number);
    expect([...generations].sort((a, b) => a - b)).toEqual(generations.slice().sort((a, b) => a - b));
    expect(new Set(generations).size).toBe(5);
    const last = results.reduce((a, b) => (a.body.generation > b.body.generation ? a : b));
    expect((await admin(sg.adminUrl, 'GET', '/status')).body.routes[0].weight).toBe(last.body.weight);
    await admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight: 0 });
  });
});

describe('reload from the config file', () => {
  it('POST /reload and SIGHUP-style reloads apply a good file and reject a bad one, keeping the running config', async () => {
    const upstreams = await startUpstreams('stable', 'canary');
    const dir = mkdtempSync(join(tmpdir(), 'splitgate-reload-'));
    const file = join(dir, 'splitgate.yaml');
    const yaml = (weight: number | string) =>
      `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nstate: { file: false }\nwatch: false\nlog: { level: warn }\n` +
      `upstreams: { stable: "${upstreams[0].url}", canary: "${upstreams[1].url}" }\nroutes: [{ name: api, stable: stable, canary: canary, weight: ${weight} }]\n`;
    writeFileSync(file, yaml(0));
    const splitgate = await Splitgate.start({ config: await loadConfigFile(file), configPath: file, logger: (await import('../../src/log.js')).createLogger({ level: 'silent' }) });
    const adminUrl = splitgate.adminAddress.url;
    try {
      writeFileSync(file, yaml(100));
      const good = await admin(adminUrl, 'POST', '/reload', undefined, null);
      expect(good).toMatchObject({ status: 200, body: { ok: true, generation: 2 } });
      expect(await versionOf(splitgate.proxyAddress.url)).toBe('canary');

      writeFileSync(file, yaml('"lots"'));
      const bad = await admin(adminUrl, 'POST', '/reload', undefined, null);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details).toEqual(['routes[0].weight: must be number (got string)']);
      expect(await versionOf(splitgate.proxyAddress.url)).toBe('canary');
      const status = (await admin(adminUrl, 'GET', '/status', undefined, null)).body;
      expect(status.generation).toBe(2);
      expect(status.lastReloadError.errors).toEqual(['routes[0].weight: must be number (got string)']);
      const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
      expect(metrics).toContain('splitgate_config_reloads_total{result="failure"} 1');
      expect(metrics).toContain('splitgate_config_reloads_total{result="success"} 1');
    } finally {
      await splitgate.stop(500);
      await Promise.all(upstreams.map((u) => u.close()));
    }
  });

  it('the file watcher picks up a change by itself', async () => {
    const upstreams = await startUpstreams('stable', 'canary');
    const dir = mkdtempSync(join(tmpdir(), 'splitgate-watch-'));
    const file = join(dir, 'splitgate.yaml');
    const yaml = (weight: number) =>
      `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nstate: { file: false }\nlog: { level: warn }\n` +
      `upstreams: { stable: "${upstreams[0].url}", canary: "${upstreams[1].url}" }\nroutes: [{ name: api, stable: stable, canary: canary, weight: ${weight} }]\n`;
    writeFileSync(file, yaml(0));
    const splitgate = await Splitgate.start({ config: await loadConfigFile(file), configPath: file, logger: (await import('../../src/log.js')).createLogger({ level: 'silent' }) });
    try {
      writeFileSync(file, yaml(100));
      const deadline = Date.now() + 5_000;
      while (splitgate.store.current.table.routes[0].weight !== 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(splitgate.store.current.table.routes[0].weight).toBe(100);
      expect(await versionOf(splitgate.proxyAddress.url)).toBe('canary');
    } finally {
      await splitgate.stop(500);
      await Promise.all(upstreams.map((u) => u.close()));
    }
  });
});

describe('runtime state across a restart, and the CLI', () => {
  let upstreams: TestUpstream[];
  let instance: SplitgateProcess | undefined;
  const dir = createTempDir();

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
  });
  afterAll(async () => {
    await killIfRunning(instance);
    await Promise.all(upstreams.map((u) => u.close()));
    dir.remove();
  });

  it('a killed canary stays killed after a restart; a corrupt state file is reported and ignored', async () => {
    const configFile = dir.writeConfig('splitgate.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      state: { file: 'state/runtime.json' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 100 }],
    });
    instance = await spawnSplitgate(configFile);
    expect(await versionOf(instance.url)).toBe('canary');

    const cli = (...args: string[]) => runCli([...args, '--admin', instance!.adminUrl, '--token', TOKEN]);
    const killed = await cli('kill', 'api');
    expect(killed).toMatchObject({ code: 0 });
    expect(killed.stdout).toMatch(/api: weight 100 % \(config\), KILLED/);
    const denied = await runCli(['weight', 'api', '50', '--admin', instance.adminUrl, '--token', 'nope']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/401 SG_UNAUTHORIZED/);
    const unknown = await cli('kill', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404 SG_UNKNOWN_ROUTE/);
    // Reads need the token too: the CLI sends it on every call.
    const anonymous = await runCli(['status', '--admin', instance.adminUrl]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/401 SG_UNAUTHORIZED .*\(pass --token or set SPLITGATE_ADMIN_TOKEN\)/);
    const status = await cli('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/api: KILLED/);
    expect(status.stdout).toMatch(/canary\s+\S+\s+100 %/);

    expect((await instance.stop()).code).toBe(0);
    instance = await spawnSplitgate(configFile);
    expect(await versionOf(instance.url)).toBe('stable');
    expect((await admin(instance.adminUrl, 'GET', '/status')).body.routes[0]).toMatchObject({ killed: true });

    const resumed = await runCli(['resume', 'api', '--admin', instance.adminUrl, '--token', TOKEN]);
    expect(resumed.code).toBe(0);
    expect(await versionOf(instance.url)).toBe('canary');
    expect((await instance.stop()).code).toBe(0);

    writeFileSync(join(dir.path, 'state/runtime.json'), '{ not json');
    instance = await spawnSplitgate(configFile);
    const restarted = (await admin(instance.adminUrl, 'GET', '/status')).body as { stateError: string; routes: Array<{ killed: boolean }> };
    expect(restarted.stateError).toMatch(/not valid/);
    expect(restarted.routes[0].killed).toBe(false);
    expect(await versionOf(instance.url)).toBe('canary');
    expect((await instance.stop()).code).toBe(0);
  });

  it('the CLI says clearly when the admin API cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await runCli(['status', '--admin', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the admin API at http://127.0.0.1:${port} (ECONNREFUSED)`);
  });
});

describe('admin API against cross-site requests', () => {
  it('refuses a mutation from another origin even without a token configured', async () => {
    const upstreams = await startUpstreams('stable', 'canary');
    const sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 0 }],
    });
    try {
      const forged = await fetch(`${sg.adminUrl}/routes/api/kill`, { method: 'POST', headers: { origin: 'https://evil.example' } });
      expect(forged.status).toBe(403);
      expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('SG_FORBIDDEN_ORIGIN');
      const crossSite = await fetch(`${sg.adminUrl}/routes/api/kill`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } });
      expect(crossSite.status).toBe(403);
      expect(((await (await fetch(`${sg.adminUrl}/status`)).json()) as { routes: Array<{ killed: boolean }> }).routes[0].killed).toBe(false);
      const sameOrigin = await fetch(`${sg.adminUrl}/routes/api/kill`, { method: 'POST', headers: { origin: sg.adminUrl } });
      expect(sameOrigin.status).toBe(200);
      // DNS rebinding: the right address under a foreign name is refused too.
      const rebound = await send(sg.adminUrl, '/routes/api/resume', { method: 'POST', headers: { host: 'evil.example:80' } });
      expect(rebound.status).toBe(403);
      expect(rebound.json<{ error: { code: string } }>().error.code).toBe('SG_FORBIDDEN_HOST');
      const page = await fetch(`${sg.adminUrl}/`);
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    } finally {
      await sg.stop();
      await Promise.all(upstreams.map((u) => u.close()));
    }
  });
});

describe('operator changes during a rollout', () => {
  it('refuses a weight change or promote while a rollout is in progress (the next window would undo it)', async () => {
    const upstreams = await startUpstreams('stable', 'canary');
    const sg = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 0, rollout: { interval: '1m', stepWeights: [10, 50] } }],
    });
    try {
      const deadline = Date.now() + 5_000;
      while (sg.splitgate.rollouts.get('api')?.status.phase !== 'Progressing' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const weight = await admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight: 80 }, null);
      expect(weight).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT' } } });
      expect(weight.body.error.message).toContain('rollout pause|promote|abort');
      expect((await admin(sg.adminUrl, 'POST', '/routes/api/promote', undefined, null)).status).toBe(409);
      // An action in the wrong case is an unknown action (400, listing them), as any other.
      const badAction = await admin(sg.adminUrl, 'POST', '/routes/api/rollout/Pause', undefined, null);
      expect(badAction).toMatchObject({ status: 400, body: { error: { code: 'SG_INVALID' } } });
      // Paused, the advice is resume, not pause.
      expect((await admin(sg.adminUrl, 'POST', '/routes/api/rollout/pause', undefined, null)).status).toBe(200);
      const paused = await admin(sg.adminUrl, 'PUT', '/routes/api/weight', { weight: 80 }, null);
      expect(paused.body.error.message).toContain('rollout resume|promote|abort');
      // The kill switch always works.
      expect((await admin(sg.adminUrl, 'POST', '/routes/api/kill', undefined, null)).status).toBe(200);
    } finally {
      await sg.stop();
      await Promise.all(upstreams.map((u) => u.close()));
    }
  });
});
