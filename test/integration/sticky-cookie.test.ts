/**
 * Stickiness for clients without a key of their own: the proxy issues a cookie (name from sticky.cookie.name),
 * and a client that sends it back stays on the version it started on. Clients with a key get no cookie.
 */
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/routing/hash.js';
import { inParallel, send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'named',
        match: { pathPrefix: '/named' },
        stable: 'stable',
        canary: 'canary',
        weight: 50,
        sticky: { key: ['header:x-user-id'], cookie: { name: 'sg_test', maxAge: 3600 } },
      },
      {
        name: 'default-name',
        match: { pathPrefix: '/default' },
        stable: 'stable',
        canary: 'canary',
        weight: 50,
        sticky: { key: ['header:x-user-id'] },
      },
    ],
  });
});

afterAll(async () => {
  agent.destroy();
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

async function versionOf(path: string, headers: Record<string, string>): Promise<{ version: string; setCookie: string[] | undefined }> {
  const res = await send(proxy.url, path, { headers, agent });
  expect(res.status).toBe(200);
  return { version: res.json<{ version: string }>().version, setCookie: res.headers['set-cookie'] };
}

describe('sticky cookie', () => {
  it('issues the configured cookie to a keyless client, who then stays on one version for 50 requests', async () => {
    const clients = 20;
    const firstVersions = await inParallel(clients, 5, async () => {
      const first = await versionOf('/named/page', {});
      expect(first.setCookie).toHaveLength(1);
      const cookie = first.setCookie![0];
      expect(cookie).toMatch(/^sg_test=[^;]+; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/);
      const pair = cookie.split(';', 1)[0];
      const id = pair.slice('sg_test='.length);
      // The first answer already came from the version the issued id hashes to.
      expect(first.version).toBe(bucketOf('named', id) < 5000 ? 'canary' : 'stable');

      const later = await inParallel(50, 5, () => versionOf('/named/page', { cookie: `theme=dark; ${pair}` }));
      for (const response of later) {
        expect(response.version).toBe(first.version);
        expect(response.setCookie).toBeUndefined();
      }
      return first.version;
    });
    // Stickiness is not everyone landing on one side: at 50 % both versions have their clients.
    expect(new Set(firstVersions)).toEqual(new Set(['stable', 'canary']));
  });

  it('uses sg_uid when the route names no cookie', async () => {
    const first = await versionOf('/default/page', {});
    expect(first.setCookie).toHaveLength(1);
    expect(first.setCookie![0]).toMatch(/^sg_uid=[^;]+;/);
    const pair = first.setCookie![0].split(';', 1)[0];
    const later = await inParallel(50, 5, () => versionOf('/default/page', { cookie: pair }));
    expect(later.every((r) => r.version === first.version && r.setCookie === undefined)).toBe(true);
  });

  it('gives no cookie to a client that brings its own key, and places it by that key', async () => {
    for (let i = 0; i < 20; i++) {
      const user = `keyed-${i}`;
      const result = await versionOf('/named/page', { 'x-user-id': user });
      expect(result.setCookie).toBeUndefined();
      expect(result.version).toBe(bucketOf('named', user) < 5000 ? 'canary' : 'stable');
    }
  });

  it('issues a different id to each keyless client', async () => {
    const cookies = await inParallel(20, 5, async () => (await versionOf('/named/page', {})).setCookie![0].split(';', 1)[0]);
    expect(new Set(cookies).size).toBe(20);
  });
});
