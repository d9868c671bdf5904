/**
 * Redis unreachable at start: splitgate starts from its state file (the fleet's last known good copy), serves,
 * is ready, and keeps retrying; when Redis comes back empty (no persistence), this replica re-seeds the fleet with
 * the versions it holds, so versions never go backwards. Rollout writes carry the leader's fencing epoch, checked
 * in Redis: a stale epoch is refused with SG_FENCED.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FencedError } from '../../src/fleet/errors.js';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { createTempDir, type TempDir } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let redis: TestRedis;
let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let instance: StartedSplitgate | undefined;

beforeAll(async () => {
  redis = await startRedis();
  await redis.stop();
  [stable, canary] = await startUpstreams('stable', 'canary');
  dir = createTempDir();
});

afterAll(async () => {
  await instance?.stop();
  await redis?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

describe('fleet: Redis unreachable at start', () => {
  it('starts from the state file, serves and is ready, then re-seeds the fleet when Redis appears', async () => {
    const stateFile = join(dir.path, 'state.json');
    // shop: killed at fleet version 4; cart: killed here while Redis was away (pending), never stored in the fleet.
    writeFileSync(
      stateFile,
      JSON.stringify({ version: 1, routes: { shop: { killed: true }, cart: { killed: true } }, fleet: { versions: { shop: 4 }, pendingKills: ['cart'] } }),
    );
    const started = performance.now();
    instance = await startSplitgate({
      state: { file: stateFile },
      upstreams: { stable: stable.url, canary: canary.url },
      routes: [
        { name: 'cart', match: { pathPrefix: '/cart' }, stable: 'stable', canary: 'canary', weight: 50 },
        { name: 'shop', match: { pathPrefix: '/' }, stable: 'stable', canary: 'canary', weight: 50 },
      ],
      fleet: { name: 'boot', memberId: 'solo', redis: { url: redis.url, connectTimeout: '500ms', commandTimeout: '500ms' }, heartbeat: '200ms', memberTtl: '2s', poll: '300ms' },
    });
    // The start waited at most about the connect timeout for Redis, not forever.
    expect(performance.now() - started).toBeLessThan(3000);
    expect((await send(instance.adminUrl, '/readyz')).status).toBe(200);
    const answered = await inParallel(20, 5, async () => (await send(instance!.url, '/')).headers['x-upstream-version']);
    expect(new Set(answered)).toEqual(new Set(['stable']));
    const status = (await send(instance.adminUrl, '/status')).json();
    expect(status.fleet).toMatchObject({ connected: false, member: 'solo' });
    expect(status.fleet.routes.shop.version).toBe(4);
    expect(status.fleet.pendingKills).toEqual(['cart']);
    expect(status.fleet.routes.cart.pending).toBe('kill');
    expect((await send(instance.adminUrl, '/metrics')).text).toMatch(/^splitgate_fleet_connected 0$/m);

    await redis.start();
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      await waitFor('the fleet re-seeded from this replica', async () => (await client.hGet('sg:{boot}:state:shop', 'v')) === '4', 6000);
      expect(JSON.parse((await client.hGet('sg:{boot}:state:shop', 'doc'))!)).toEqual({ killed: true, killedBy: 'operator' });
      // The kill made while Redis was away (and kept across the restart by the state file) reaches the fleet.
      await waitFor('the pending kill written to the fleet', async () => (await client.hGet('sg:{boot}:state:cart', 'v')) === '1');
      expect(JSON.parse((await client.hGet('sg:{boot}:state:cart', 'doc'))!)).toEqual({ killed: true, killedBy: 'operator' });
      await waitFor('nothing pending', async () => (await send(instance!.adminUrl, '/status')).json().fleet.pendingKills.length === 0);
      await waitFor('the heartbeat', async () => (await client.exists('sg:{boot}:members:solo')) === 1);
      const metrics = (await send(instance.adminUrl, '/metrics')).text;
      expect(metrics).toMatch(/^splitgate_fleet_connected 1$/m);
      expect(metrics).toMatch(/^splitgate_fleet_state_version\{route="shop"\} 4$/m);
      expect(metrics).toMatch(/^splitgate_fleet_members 1$/m);
      expect(metrics).toMatch(/^splitgate_fleet_state_age_seconds\{route="shop"\} /m);

      // A former leader's epoch: refused in Redis, nothing stored, nothing applied here.
      await client.set('sg:{boot}:epoch', '7');
      await expect(instance.splitgate.controller.applyRollout('shop', { phase: 'Progressing' }, { weight: 5 }, { fenceEpoch: 6 })).rejects.toBeInstanceOf(FencedError);
      expect(await client.hGet('sg:{boot}:state:shop', 'v')).toBe('4');
      const applied = await instance.splitgate.controller.applyRollout('shop', { phase: 'Progressing' }, { weight: 5 }, { fenceEpoch: 7 });
      expect(applied.fleet).toMatchObject({ version: 5 });
      expect(await client.hGet('sg:{boot}:state:shop', 'v')).toBe('5');
    } finally {
      client.destroy();
    }
  });

  it('a Redis that hangs: writes answer 503 after commandTimeout, the kill works here and is written once Redis answers', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      send(instance!.adminUrl, path, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    expect((await admin('POST', '/routes/cart/resume')).status).toBe(200);
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const before = Number(await client.hGet('sg:{boot}:state:cart', 'v'));
      redis.pause();
      const started = performance.now();
      const refused = await admin('PUT', '/routes/cart/weight', { weight: 10 });
      expect(refused.status).toBe(503);
      expect(refused.json().error.code).toBe('SG_FLEET_UNAVAILABLE');
      // Bounded by commandTimeout (500 ms), with room for a busy machine.
      expect(performance.now() - started).toBeLessThan(2500);
      const kill = await admin('POST', '/routes/cart/kill');
      expect(kill.status).toBe(200);
      expect(kill.json().fleet.pending).toBe(true);
      const answered = await inParallel(20, 5, async () => (await send(instance!.url, '/cart')).headers['x-upstream-version']);
      expect(new Set(answered)).toEqual(new Set(['stable']));
      redis.resume();
      await waitFor('the kill written to the fleet', async () => Number(await client.hGet('sg:{boot}:state:cart', 'v')) > before, 6000);
      // The weight write that was answered 503 reached Redis's socket too: it must never land.
      const doc = JSON.parse((await client.hGet('sg:{boot}:state:cart', 'doc'))!);
      expect(doc).toMatchObject({ killed: true });
      expect(doc.weight).toBeUndefined();
      await waitFor('nothing pending', async () => (await send(instance!.adminUrl, '/status')).json().fleet.pendingKills.length === 0);
    } finally {
      redis.resume();
      client.destroy();
    }
  });
});
