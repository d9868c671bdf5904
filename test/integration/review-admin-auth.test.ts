/**
 * Issue 14, the admin listener's defences:
 * - item 3: a loopback admin listener refuses a Host that only looks like a loopback address
 *   (`127.attacker.example`), even with a matching Origin, so a rebound web page cannot flip a kill switch;
 * - item 9: with a token configured every admin endpoint needs it, except /healthz, /readyz, /metrics and the
 *   dashboard page (which holds no data);
 * - item 5: a reload cannot drop the token while the listener is still bound to a non-loopback address (it moves
 *   only at a restart), and the Host check follows the bound address, not the file's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Splitgate } from '../../src/splitgate.js';
import { send, type Received } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const TOKEN = 'review-token';

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function codeOf(reply: Received): string | undefined {
  return reply.json<{ error?: { code?: string } }>().error?.code;
}

let upstreams: TestUpstream[];

beforeAll(async () => {
  upstreams = await startUpstreams('stable', 'canary');
});

afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

function routes(weight = 0): Array<Record<string, unknown>> {
  return [{ name: 'api', stable: 'stable', canary: 'canary', weight }];
}

describe('DNS rebinding: only literal loopback Host names reach a loopback admin listener', () => {
  let sg: StartedSplitgate;
  beforeAll(async () => {
    sg = await startSplitgate({ log: { level: 'warn' }, upstreams: { stable: upstreams[0].url, canary: upstreams[1].url }, routes: routes() });
  });
  afterAll(async () => {
    await sg?.stop();
  });

  it('refuses POST kill addressed to 127.attacker.example with a matching Origin, and the route stays live', async () => {
    const port = new URL(sg.adminUrl).port;
    for (const name of ['127.attacker.example', '127.0.0.1.attacker.example', 'localhost.']) {
      const forged = await send(sg.adminUrl, '/routes/api/kill', {
        method: 'POST',
        headers: { host: `${name}:${port}`, origin: `http://${name}:${port}` },
      });
      expect({ name, status: forged.status, code: codeOf(forged) }).toEqual({ name, status: 403, code: 'SG_FORBIDDEN_HOST' });
      const read = await send(sg.adminUrl, '/status', { headers: { host: `${name}:${port}` } });
      expect({ name, status: read.status }).toEqual({ name, status: 403 });
    }
    expect((await send(sg.adminUrl, '/status')).json().routes[0].killed).toBe(false);
    expect(sg.splitgate.store.current.table.routes[0].killed).toBe(false);
  });

  it('answers the loopback names a browser sends for the listener itself', async () => {
    const port = new URL(sg.adminUrl).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      const reply = await send(sg.adminUrl, '/status', { headers: { host } });
      expect({ host, status: reply.status }).toEqual({ host, status: 200 });
    }
    const same = await send(sg.adminUrl, '/routes/api/kill', { method: 'POST', headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } });
    expect(same.status).toBe(200);
    expect((await send(sg.adminUrl, '/routes/api/resume', { method: 'POST' })).status).toBe(200);
  });
});

describe('with a token, every admin read needs it', () => {
  let sg: StartedSplitgate;
  beforeAll(async () => {
    sg = await startSplitgate({
      admin: { listen: '127.0.0.1:0', token: TOKEN },
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: routes(),
    });
  });
  afterAll(async () => {
    await sg?.stop();
  });

  it.each(['/status', '/config', '/events', '/diffs?route=api', '/diffs/summary', '/rollouts'])('GET %s: 401 without the token or with a wrong one, 200 with it', async (path) => {
    const without = await send(sg.adminUrl, path);
    expect(without.status).toBe(401);
    expect(codeOf(without)).toBe('SG_UNAUTHORIZED');
    expect(without.headers['www-authenticate']).toBe('Bearer realm="splitgate admin"');
    expect((await send(sg.adminUrl, path, { headers: bearer('wrong') })).status).toBe(401);
    expect((await send(sg.adminUrl, path, { method: 'HEAD' })).status).toBe(401);
    const withToken = await send(sg.adminUrl, path, { headers: bearer(TOKEN) });
    expect(withToken.status).toBe(200);
    expect(withToken.json()).toBeTypeOf('object');
  });

  it.each(['/healthz', '/readyz', '/metrics', '/'])('GET %s needs no token', async (path) => {
    const reply = await send(sg.adminUrl, path);
    expect(reply.status).toBe(200);
  });

  it('the dashboard page holds no data of its own', async () => {
    const page = (await send(sg.adminUrl, '/')).text;
    expect(page).not.toContain(upstreams[0].url);
    expect(page).not.toContain(TOKEN);
  });

  it('an unknown path without the token is refused before it is looked up', async () => {
    expect((await send(sg.adminUrl, '/nope')).status).toBe(401);
    expect((await send(sg.adminUrl, '/nope', { headers: bearer(TOKEN) })).status).toBe(404);
  });
});

describe('a reload cannot weaken the admin rules of the listener actually bound', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'splitgate-admin-reload-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function yaml(admin: string, weight = 0): string {
    return (
      `listen: 127.0.0.1:0\nadmin: ${admin}\nstate: { file: false }\nwatch: false\nlog: { level: warn }\n` +
      `upstreams: { stable: "${upstreams[0].url}", canary: "${upstreams[1].url}" }\n` +
      `routes: [{ name: api, stable: stable, canary: canary, weight: ${weight} }]\n`
    );
  }

  async function start(file: string): Promise<Splitgate> {
    return Splitgate.start({ config: await loadConfigFile(file), configPath: file, logger: createLogger({ level: 'silent' }) });
  }

  it('bound to 0.0.0.0 with a token: a file moving admin to 127.0.0.1 without a token is refused, the token stays required', async () => {
    const file = join(dir, 'all-interfaces.yaml');
    writeFileSync(file, yaml(`{ listen: "0.0.0.0:0", token: ${TOKEN} }`));
    const splitgate = await start(file);
    const adminUrl = splitgate.adminAddress.url;
    try {
      expect(splitgate.adminAddress.host).toBe('0.0.0.0');
      writeFileSync(file, yaml('{ listen: "127.0.0.1:0" }', 100));
      const refused = await send(adminUrl, '/reload', { method: 'POST', headers: bearer(TOKEN) });
      expect(refused.status).toBe(400);
      const expected = `admin.token: is required: the admin listener is bound to 0.0.0.0:${splitgate.adminAddress.port}, not a loopback address, until the next restart (admin.listen changes take effect only then)`;
      expect(refused.json()).toMatchObject({ error: { code: 'SG_CONFIG_INVALID', details: [expected] } });

      // The running config stays: the token is still required, for reads and mutations, and the weight is 0.
      expect((await send(adminUrl, '/status')).status).toBe(401);
      expect((await send(adminUrl, '/routes/api/kill', { method: 'POST' })).status).toBe(401);
      const status = (await send(adminUrl, '/status', { headers: bearer(TOKEN) })).json();
      expect(status.generation).toBe(1);
      expect(status.routes[0].weight).toBe(0);
      expect(status.lastReloadError.errors).toEqual([expected]);
      const metrics = (await send(adminUrl, '/metrics')).text;
      expect(metrics).toContain('splitgate_config_reloads_total{result="failure"} 1');
      const events = (await send(adminUrl, '/events', { headers: bearer(TOKEN) })).json().events as Array<{ action: string; message?: string }>;
      expect(events[0]).toMatchObject({ action: 'config.reload_failed', message: expected });
      // Not through a file watcher or SIGHUP either: they take the same path.
      expect(await splitgate.reload('sighup')).toMatchObject({ ok: false, errors: [expected] });

      // Rotating the token stays allowed; the listener stays where it is, and says so.
      writeFileSync(file, yaml('{ listen: "127.0.0.1:0", token: rotated-token }', 100));
      const rotated = await send(adminUrl, '/reload', { method: 'POST', headers: bearer(TOKEN) });
      expect(rotated.status).toBe(200);
      expect(rotated.json().warnings).toEqual(['admin.listen changed: takes effect at the next restart']);
      expect((await send(adminUrl, '/status', { headers: bearer(TOKEN) })).status).toBe(401);
      expect((await send(adminUrl, '/status', { headers: bearer('rotated-token') })).json().routes[0].weight).toBe(100);
    } finally {
      await splitgate.stop(500);
    }
  });

  it('bound to loopback: the Host check stays on after a file moves admin.listen to 0.0.0.0', async () => {
    const file = join(dir, 'loopback.yaml');
    writeFileSync(file, yaml('{ listen: "127.0.0.1:0" }'));
    const splitgate = await start(file);
    const adminUrl = splitgate.adminAddress.url;
    const port = splitgate.adminAddress.port;
    try {
      writeFileSync(file, yaml(`{ listen: "0.0.0.0:0", token: ${TOKEN} }`));
      const reloaded = await send(adminUrl, '/reload', { method: 'POST' });
      expect(reloaded.status).toBe(200);
      expect(reloaded.json().warnings).toEqual(['admin.listen changed: takes effect at the next restart']);
      const forged = await send(adminUrl, '/routes/api/kill', {
        method: 'POST',
        headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}`, ...bearer(TOKEN) },
      });
      expect(forged.status).toBe(403);
      expect(codeOf(forged)).toBe('SG_FORBIDDEN_HOST');
      expect(splitgate.store.current.table.routes[0].killed).toBe(false);
    } finally {
      await splitgate.stop(500);
    }
  });
});
