/**
 * The flags endpoints follow the admin listener's rules: with `admin.token` set, `GET /flags`, `PUT` and `DELETE
 * /flags/{key}` need it (401 otherwise, and nothing changes), and a cross-site browser request is refused (403) even
 * with the token. Single process (`workers: 1`): the kill is in force on the next request here too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const TOKEN = 'flags-admin-token';
const AUTHORIZED = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const KILL = JSON.stringify({ state: 'DISABLED' });

let stable: TestUpstream;
let sg: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable');
  sg = await startSplitgate({
    log: { level: 'silent' },
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    upstreams: { stable: stable.url },
    flags: { definitions: { flags: { beta: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' } } } },
    routes: [{ name: 'api', stable: 'stable' }],
  });
});

afterAll(async () => {
  await sg?.stop();
  await stable?.close();
});

async function flagsHeader(): Promise<string | undefined> {
  return (await send(sg.url, '/')).json<{ headers: Record<string, string | undefined> }>().headers['x-splitgate-flags'];
}

describe('flags endpoints and the admin token', () => {
  it('refuses calls without the token (401) and cross-site ones with it (403); the flag stays as it was', async () => {
    const refused = [
      await send(sg.adminUrl, '/flags'),
      await send(sg.adminUrl, '/flags/beta', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: KILL }),
      await send(sg.adminUrl, '/flags/beta', { method: 'DELETE' }),
      await send(sg.adminUrl, '/flags/beta', { method: 'PUT', headers: { ...AUTHORIZED, origin: 'http://evil.example' }, body: KILL }),
    ];
    expect(refused.map((reply) => [reply.status, reply.json().error.code])).toEqual([
      [401, 'SG_UNAUTHORIZED'],
      [401, 'SG_UNAUTHORIZED'],
      [401, 'SG_UNAUTHORIZED'],
      [403, 'SG_FORBIDDEN_ORIGIN'],
    ]);
    expect(await flagsHeader()).toBe('beta=?1');
  });

  it('with the token: the kill is in force on the next request, and DELETE restores the file', async () => {
    const killed = await send(sg.adminUrl, '/flags/beta', { method: 'PUT', headers: AUTHORIZED, body: KILL });
    expect([killed.status, killed.json().override]).toEqual([200, { state: 'DISABLED' }]);
    expect(await flagsHeader()).toBeUndefined();
    const view = (await send(sg.adminUrl, '/flags', { headers: AUTHORIZED })).json();
    expect(view.flags[0]).toMatchObject({ key: 'beta', override: { state: 'DISABLED' }, effective: { state: 'DISABLED' } });
    expect((await send(sg.adminUrl, '/flags/beta', { method: 'DELETE', headers: AUTHORIZED })).status).toBe(200);
    expect(await flagsHeader()).toBe('beta=?1');
  });
});
