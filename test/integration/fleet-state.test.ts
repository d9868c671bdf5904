/**
 * Three splitgate processes sharing one real Redis behave as one: a kill switch or a weight sent to one replica's
 * admin API is in force on the others within a second (measured by requests through them, not by reading state),
 * two writes based on the same version get one 409, and losing Redis under load fails static (0 failed requests,
 * writes 503, the kill switch still works here at once) until Redis returns empty and the pending kill reaches the
 * fleet. Replica C runs `workers: 2`: its supervisor is the one that talks to Redis. The poll is slow (10 s) on
 * purpose: within the test's bounds a change can only arrive by pub/sub, including after Redis restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { createTempDir, killIfRunning, runCli, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const ROUND = 20;

let redis: TestRedis;
let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;
let c: SplitgateProcess | undefined;

function config(member: string, workers: number): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    workers,
    watch: false,
    state: { file: `${member}-state.json` },
    shutdown: { drainTimeout: '2s' },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [{ name: 'shop', match: { pathPrefix: '/' }, stable: 'stable', canary: 'canary', weight: 50 }],
    fleet: { name: 'it-fleet', memberId: member, redis: { url: redis.url, connectTimeout: '1s', commandTimeout: '1s' }, heartbeat: '300ms', memberTtl: '3s', poll: '10s' },
  };
}

beforeAll(async () => {
  redis = await startRedis();
  [stable, canary] = await startUpstreams('stable', 'canary');
  dir = createTempDir();
  // Three processes (one with two workers) starting at once on a busy 2-core machine: a generous bound. Each is kept
  // as soon as it runs, so afterAll stops those that started even when another did not.
  const started = await Promise.allSettled([
    spawnSplitgate(dir.writeConfig('a.yaml', config('a', 1)), 20_000),
    spawnSplitgate(dir.writeConfig('b.yaml', config('b', 1)), 20_000),
    spawnSplitgate(dir.writeConfig('c.yaml', config('c', 2)), 20_000),
  ]);
  [a, b, c] = started.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : undefined));
  for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
});

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b), killIfRunning(c)]);
  await redis?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

/** `ROUND` requests through `instance`, each on a new connection: the versions that answered. */
async function versions(instance: SplitgateProcess): Promise<string[]> {
  return inParallel(ROUND, 5, async () => {
    const res = await send(instance.url, '/');
    expect(res.status).toBe(200);
    return res.headers['x-upstream-version'] as string;
  });
}

/** Sends requests through every instance until all answer only `version`; the time that took, in ms. */
async function timeUntilOnly(version: string, instances: SplitgateProcess[], timeoutMs = 3000): Promise<number> {
  const started = performance.now();
  await waitFor(`only ${version} through ${instances.length} replicas`, async () => {
    const seen = await Promise.all(instances.map(versions));
    return seen.every((list) => list.every((v) => v === version));
  }, timeoutMs);
  return performance.now() - started;
}

async function admin(instance: SplitgateProcess, method: string, path: string, body?: unknown) {
  return send(instance.adminUrl, path, { method, headers: { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function fleetStatus(instance: SplitgateProcess): Promise<{ connected: boolean; pendingKills: string[]; routes: Record<string, { version: number; pending: string | null }> }> {
  return (await send(instance.adminUrl, '/status')).json().fleet;
}

describe('fleet: shared runtime state through Redis', () => {
  it('all three join the fleet and see each other', async () => {
    await waitFor('three members', async () => (await send(a!.adminUrl, '/fleet')).json().members.length === 3);
    const view = (await send(c!.adminUrl, '/fleet')).json();
    expect(view.members.map((m: { id: string }) => m.id)).toEqual(['a', 'b', 'c']);
    expect(view.connected).toBe(true);
    const status = (await send(c!.adminUrl, '/status')).json();
    expect(status.workers).toHaveLength(2);
    expect(status.fleet.member).toBe('c');
  });

  it('a kill via replica A stops canary traffic through B and C within 1 s', async () => {
    // Both versions answer through every replica first: there is canary traffic to stop.
    for (const instance of [b!, c!]) expect(new Set(await versions(instance))).toEqual(new Set(['stable', 'canary']));
    const res = await admin(a!, 'POST', '/routes/shop/kill');
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.killed).toBe(true);
    expect(body.fleet.version).toBeGreaterThan(0);
    expect(body.fleet.acknowledged).toBeGreaterThanOrEqual(1);
    expect(body.fleet.members).toBe(3);
    const elapsed = await timeUntilOnly('stable', [b!, c!]);
    expect(elapsed).toBeLessThan(1000);
    const events = (await send(b!.adminUrl, '/events?route=shop')).json().events as Array<{ action: string; actor: string; after: { fleetVersion?: number } }>;
    expect(events.some((e) => e.action === 'fleet.applied' && e.actor === 'fleet:a' && e.after.fleetVersion === body.fleet.version)).toBe(true);
    expect((await admin(b!, 'POST', '/routes/shop/resume')).status).toBe(200);
  });

  it('a weight change via B is in force through A and C within 1 s', async () => {
    expect((await admin(b!, 'PUT', '/routes/shop/weight', { weight: 100 })).status).toBe(200);
    expect(await timeUntilOnly('canary', [a!, c!])).toBeLessThan(1000);
    expect((await admin(c!, 'PUT', '/routes/shop/weight', { weight: 0 })).status).toBe(200);
    expect(await timeUntilOnly('stable', [a!, b!])).toBeLessThan(1000);
  });

  it('two writes based on the same version: one is stored, the other gets 409 naming the versions', async () => {
    await waitFor('A and B on the same version', async () => (await fleetStatus(a!)).routes.shop.version === (await fleetStatus(b!)).routes.shop.version);
    const version = (await fleetStatus(a!)).routes.shop.version;
    const [first, second] = await Promise.all([
      admin(a!, 'PUT', '/routes/shop/weight', { weight: 10, expectedVersion: version }),
      admin(b!, 'PUT', '/routes/shop/weight', { weight: 20, expectedVersion: version }),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const refused = first.status === 409 ? first : second;
    expect(refused.json().error.code).toBe('SG_CONFLICT');
    expect(refused.json().error.message).toContain(`version ${version}`);
    expect(refused.json().error.message).toContain(`version ${version + 1}`);
  });

  it('Redis lost under load: 0 failed requests, writes 503, the kill works here at once and reaches the fleet when Redis returns', async () => {
    expect((await admin(a!, 'PUT', '/routes/shop/weight', { weight: 50 })).status).toBe(200);
    await waitFor('50/50 through B and C', async () => (await Promise.all([b!, c!].map(versions))).every((list) => new Set(list).size === 2));
    const loads = [a!, b!, c!].map((instance) => startLoad(instance.url, { concurrency: 2, durationMs: 15_000, pauseMs: 5 }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await redis.stop();
    await waitFor('A sees Redis gone', async () => (await fleetStatus(a!)).connected === false);
    const metrics = (await send(a!.adminUrl, '/metrics')).text;
    expect(metrics).toMatch(/^splitgate_fleet_connected 0$/m);

    const refused = await admin(a!, 'PUT', '/routes/shop/weight', { weight: 30 });
    expect(refused.status).toBe(503);
    expect(refused.json().error.code).toBe('SG_FLEET_UNAVAILABLE');
    await waitFor('C sees Redis gone', async () => (await fleetStatus(c!)).connected === false);
    // The supervisor of `workers: 2` refuses the same way.
    const refusedByC = await admin(c!, 'POST', '/routes/shop/promote');
    expect(refusedByC.status).toBe(503);
    expect(refusedByC.json().error.code).toBe('SG_FLEET_UNAVAILABLE');

    const kill = await admin(a!, 'POST', '/routes/shop/kill');
    expect(kill.status).toBe(200);
    expect(kill.json().killed).toBe(true);
    expect(kill.json().fleet.pending).toBe(true);
    // In force through A on the very next requests.
    expect(new Set(await versions(a!))).toEqual(new Set(['stable']));
    const status = await fleetStatus(a!);
    expect(status.pendingKills).toEqual(['shop']);
    expect(status.routes.shop.pending).toBe('kill');
    // B and C fail static: still the last applied state (canary included) while Redis is away.
    expect(new Set(await versions(b!))).toEqual(new Set(['stable', 'canary']));
    expect((await send(b!.adminUrl, '/readyz')).status).toBe(200);

    await redis.start();
    const elapsed = await timeUntilOnly('stable', [b!, c!], 8000);
    const totals = await Promise.all(loads.map((load) => load.stop()));
    for (const total of totals) {
      expect(total.failed).toBe(0);
      expect(Object.keys(total.byStatus)).toEqual(['200']);
      expect(total.sent).toBeGreaterThan(20);
    }
    await waitFor('the fleet converged', async () => {
      const view = (await send(b!.adminUrl, '/fleet')).json();
      return view.members.length === 3 && view.converged === true;
    }, 5000);
    const view = (await send(b!.adminUrl, '/fleet')).json();
    for (const member of view.members) expect(member.applied.shop).toBe(view.versions.shop);
    expect((await fleetStatus(a!)).pendingKills).toEqual([]);
    const events = (await send(a!.adminUrl, '/events?route=shop')).json().events as Array<{ action: string }>;
    expect(events.some((e) => e.action === 'fleet.kill_pushed')).toBe(true);
    expect(elapsed).toBeLessThan(8000);
    const cli = await runCli(['fleet', '--admin', c!.adminUrl]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^fleet it-fleet: 3 members, converged$/m);
    expect(cli.stdout).toMatch(new RegExp(`state versions: shop@${view.versions.shop}`));
    expect(cli.stdout.match(/up to date/g)).toHaveLength(3);
  });
});
