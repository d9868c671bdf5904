/**
 * A stop is the fleet's, not one replica's: three splitgate processes (A a single process, B `workers: 2`, C started
 * after the stop) on one real Redis. A stop on A shows on B within a bounded wait with the same frozen report, and on
 * C when it starts; traffic after the stop changes no report; two stops at once answer one 200 and one 409; a ship on
 * A stops the experiment on B and puts the shipped variant in force there; with Redis gone a stop answers 503
 * SG_FLEET_UNAVAILABLE and stops nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { adminCall } from '../helpers/rollout.js';
import { startSingleAndTwoWorkers } from '../helpers/fleet-pair.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let shop: Shop;
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
    state: { file: join(dir.path, `${member}-state.json`) },
    upstreams: shop.upstreams,
    flags: {
      definitions: {
        flags: { 'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } } },
      },
    },
    routes: [shopRoute()],
    experiments: [
      checkoutExperiment({ minUsersPerArm: 5 }),
      checkoutExperiment({ key: 'racing' }),
      checkoutExperiment({ key: 'by-flag', flag: 'new-checkout' }),
      checkoutExperiment({ key: 'spare' }),
    ],
    fleet: { name: 'stop-fleet', memberId: member, redis: { url: redis.url, connectTimeout: '1s', commandTimeout: '1s' }, heartbeat: '300ms', memberTtl: '3s' },
  };
}

/** `count` new users on `url` from `from` on: each exposed, every third one ordering. */
async function visit(url: string, from: number, count: number): Promise<void> {
  await inParallel(count, 8, async (i) => {
    const headers = { 'x-user-id': `stop-user-${from + i}` };
    armOf(await send(url, '/shop/item', { headers }));
    if (i % 3 === 0) expect((await send(url, '/orders', { method: 'POST', headers })).status).toBe(201);
  });
}

const usersOf = (report: any): number => report.arms[0].users + report.arms[1].users;

beforeAll(async () => {
  redis = await startRedis();
  shop = await startShop();
  dir = createTempDir();
  [a, b] = await startSingleAndTwoWorkers(dir, config);
});

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b), killIfRunning(c)]);
  await redis?.stop();
  await shop?.close();
  dir?.remove();
});

describe('fleet: a stopped experiment is stopped on every replica', () => {
  it('a stop on A: B (and C, started later) report it stopped with the same frozen totals; later traffic changes nothing', async () => {
    await visit(a!.url, 0, 30);
    await visit(b!.url, 30, 30);
    await waitFor('both replicas to count 60 users', async () => usersOf(await experimentReport(a!.adminUrl, 'checkout')) === 60 && usersOf(await experimentReport(b!.adminUrl, 'checkout')) === 60, 5_000);

    const stopped = await adminCall(a!.adminUrl, 'POST', '/experiments/checkout/stop');
    expect(stopped.status).toBe(200);
    expect(usersOf(stopped.body)).toBe(60);
    const onA = await experimentReport(a!.adminUrl, 'checkout');
    await waitFor('B to report the stop', async () => (await experimentReport(b!.adminUrl, 'checkout')).stopped !== null, 3_000);
    expect(await experimentReport(b!.adminUrl, 'checkout')).toEqual(onA);
    // B keeps it in its own state file (a restart without Redis still reports it stopped).
    await waitFor('B to keep the stop in its state file', () => existsSync(join(dir.path, 'b-state.json')) && JSON.parse(readFileSync(join(dir.path, 'b-state.json'), 'utf8')).experiments?.checkout !== undefined, 3_000);
    // A second stop, on either replica, is a conflict.
    for (const replica of [a!, b!]) expect((await adminCall(replica.adminUrl, 'POST', '/experiments/checkout/stop')).status).toBe(409);

    // New users on both replicas, then two flushes: neither report moves.
    await visit(b!.url, 100, 20);
    await visit(a!.url, 120, 20);
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(await experimentReport(a!.adminUrl, 'checkout')).toEqual(onA);
    expect(await experimentReport(b!.adminUrl, 'checkout')).toEqual(onA);
    // The running experiments on the same route counted them.
    await waitFor('the running experiment to count 100 users', async () => usersOf(await experimentReport(a!.adminUrl, 'racing')) === 100, 3_000);

    c = await spawnSplitgate(dir.writeConfig('c.yaml', config('c', 1)), 20_000);
    await waitFor('C to report the stop', async () => (await experimentReport(c!.adminUrl, 'checkout')).stopped !== null, 3_000);
    expect(await experimentReport(c!.adminUrl, 'checkout')).toEqual(onA);
  });

  it('two stops at once on A and B: exactly one 200, one 409, and one frozen report everywhere', async () => {
    const replies = await Promise.all([a!, b!].map((replica) => adminCall(replica.adminUrl, 'POST', '/experiments/racing/stop')));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(replies.find((r) => r.status === 409)!.body.error.code).toBe('SG_CONFLICT');
    const onA = await experimentReport(a!.adminUrl, 'racing');
    expect(onA.stopped).not.toBeNull();
    expect(await experimentReport(b!.adminUrl, 'racing')).toEqual(onA);
    await waitFor('C to report the stop', async () => (await experimentReport(c!.adminUrl, 'racing')).stopped !== null, 3_000);
    expect(await experimentReport(c!.adminUrl, 'racing')).toEqual(onA);
  });

  it('a ship on A: B reports the experiment stopped, and serves the shipped variant', async () => {
    const shipped = await adminCall(a!.adminUrl, 'POST', '/experiments/by-flag/ship', { arm: 'B' });
    expect(shipped.status).toBe(200);
    expect(shipped.body).toMatchObject({ arm: 'B', shipped: { flag: 'new-checkout', variant: 'on' } });
    await waitFor(
      'B to report the ship',
      async () => (await experimentReport(b!.adminUrl, 'by-flag')).stopped !== null && (await send(b!.url, '/shop/item', { headers: { 'x-user-id': 'after-ship-0' } })).headers['x-seen-flags'] === 'new-checkout=?1',
      3_000,
    );
    expect(await experimentReport(b!.adminUrl, 'by-flag')).toEqual(await experimentReport(a!.adminUrl, 'by-flag'));
    for (let i = 1; i < 10; i++) expect((await send(b!.url, '/shop/item', { headers: { 'x-user-id': `after-ship-${i}` } })).headers['x-seen-flags']).toBe('new-checkout=?1');
  });

  it('Redis gone at the stop: 503 SG_FLEET_UNAVAILABLE, and the experiment runs on', async () => {
    await redis.stop();
    const reply = await adminCall(a!.adminUrl, 'POST', '/experiments/spare/stop');
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe('SG_FLEET_UNAVAILABLE');
    expect((await experimentReport(a!.adminUrl, 'spare')).stopped).toBeNull();
  });
});
