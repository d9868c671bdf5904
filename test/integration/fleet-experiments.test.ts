/**
 * A/B experiment totals across a fleet: two splitgate replicas (A a single process, B `workers: 2`) share one real
 * Redis. Every user is exposed on one replica and converts on the other, so neither replica alone knows who
 * converted after an exposure; both replicas' reports equal the truth the test keeps, each user counted once, and a
 * conversion before the user's exposure (on the other replica) counts for nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armCounts, armOf, checkoutExperiment, experimentReport, shopFleetMember, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startSingleAndTwoWorkers } from '../helpers/fleet-pair.js';
import { connectTestClient, startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let shop: Shop;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;

function config(member: string, workers: number): Record<string, unknown> {
  return shopFleetMember('exp-fleet', member, workers, redis.url, shop, checkoutExperiment({ minUsersPerArm: 5 }));
}

beforeAll(async () => {
  redis = await startRedis();
  shop = await startShop();
  dir = createTempDir();
  [a, b] = await startSingleAndTwoWorkers(dir, config);
});

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await shop?.close();
  dir?.remove();
});

describe('fleet: experiment totals in Redis', () => {
  it('counts each user and conversion once across replicas, whichever replica saw what', async () => {
    const users: [number, number] = [0, 0];
    const orders: [number, number] = [0, 0];
    const purchases: [number, number] = [0, 0];
    const values: [number, number] = [0, 0];
    await inParallel(160, 8, async (i) => {
      const [exposedOn, convertsOn] = i % 2 === 0 ? [a!, b!] : [b!, a!];
      const headers = { 'x-user-id': `fleet-user-${i}` };
      // Users 0 mod 5 order before they are exposed: that order is no conversion. Always on A (one process): with
      // workers, an order before and one after an exposure seen by another worker within one batch of events count
      // as the first only (worker-events.ts reports an unexposed user's conversion once per batch).
      if (i % 5 === 0) expect((await send(a!.url, '/orders', { method: 'POST', headers })).status).toBe(201);
      const arm = armOf(await send(exposedOn.url, '/shop/item', { headers }));
      users[arm]++;
      await send(convertsOn.url, '/shop/item', { headers });
      if (i % 3 === 0) {
        for (let k = 0; k < 2; k++) await send(convertsOn.url, '/orders', { method: 'POST', headers });
        orders[arm]++;
      }
      if (i % 4 === 0) {
        await send(convertsOn.url, `/thanks?value=${i % 7}`, { headers });
        await send(exposedOn.url, `/thanks?value=${i % 7}`, { headers });
        purchases[arm]++;
        values[arm] += i % 7;
      }
    });
    const expected = [
      [users[0], orders[0]],
      [users[1], orders[1]],
    ];
    for (const replica of [a!, b!]) {
      let report: any;
      await waitFor(
        `fleet totals on ${replica.adminUrl}`,
        async () => {
          report = await experimentReport(replica.adminUrl, 'checkout');
          return JSON.stringify(armCounts(report, 'order')) === JSON.stringify(expected) && report.conversions[1].arms.every((arm: any, i: number) => arm.converters === purchases[i]);
        },
        10_000,
      ).catch(() => undefined);
      expect(report.arms.map((arm: any) => arm.users)).toEqual(users);
      expect(armCounts(report, 'order')).toEqual(expected);
      expect(armCounts(report, 'purchase')).toEqual([
        [users[0], purchases[0]],
        [users[1], purchases[1]],
      ]);
      expect(report.conversions[1].arms.map((arm: any) => arm.valueSum)).toEqual(values);
    }

    // Redis holds one entry per user, whatever the number of replicas that saw them.
    const client = await connectTestClient(redis.url);
    try {
      expect(await client.hLen('sg:{exp-fleet}:x:checkout:u')).toBe(160);
    } finally {
      client.destroy();
    }
  });
});
