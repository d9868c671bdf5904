/**
 * A route-split experiment's guardrails in a fleet judge every member's traffic: two replicas (A a single process,
 * B `workers: 2`) on one real Redis, a treatment that fails only the requests B serves. A's report shows the breach
 * and declares no winner, and a ship on A is refused, though A's own traffic is healthy; before, A judged its own
 * share only and would have shipped the broken version to the whole fleet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armOf, checkoutExperiment, experimentReport, shopFleetMember, startShop, type Shop } from '../helpers/experiments.js';
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
  return shopFleetMember('exp-guardrails', member, workers, redis.url, shop, checkoutExperiment({ minUsersPerArm: 5, guardrails: { minRequests: 20, maxP99Ratio: 100 } }));
}

beforeAll(async () => {
  redis = await startRedis();
  shop = await startShop({ failOnHeader: true });
  dir = createTempDir();
  [a, b] = await startSingleAndTwoWorkers(dir, config);
});

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await shop?.close();
  dir?.remove();
});

describe("fleet: an experiment's guardrails", () => {
  it("judge the whole fleet's traffic: a treatment failing on another replica blocks the winner and the ship", async () => {
    // Healthy traffic on A, and every user orders on B's treatment: a clear win for B, on conversions.
    await inParallel(120, 8, async (i) => {
      const headers = { 'x-user-id': `healthy-${i}` };
      const arm = armOf(await send(a!.url, '/shop/item', { headers }));
      if (arm === 1) await send(a!.url, '/orders', { method: 'POST', headers });
    });
    // The treatment fails every request B sends it (x-fail is sent through B only).
    await inParallel(120, 8, (i) => send(b!.url, '/shop/item', { headers: { 'x-user-id': `broken-${i}`, 'x-fail': '1' } }));

    // B's counts reach Redis within about a flush (1 s); A's report reads them.
    let report: any;
    // All 240 requests counted (each replica flushes about once a second), and the breach in A's report.
    await waitFor("the fleet's requests in A's report", async () => {
      report = await experimentReport(a!.adminUrl, 'checkout');
      const [check] = report.guardrails.checks;
      return report.guardrails.breached === true && check.sample.control + check.sample.treatment >= 240;
    }, 10_000);
    const errorRate = report.guardrails.checks.find((c: any) => c.check === 'error-rate');
    expect(errorRate).toMatchObject({ result: 'fail', control: 0 });
    expect(errorRate.treatment).toBeGreaterThan(3);
    expect(report.verdict).toMatch(/^guardrail: error rate .* no winner is declared$/);

    // No winner, so a ship without a named arm is refused, and nothing moved.
    const ship = await send(a!.adminUrl, '/experiments/checkout/ship', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ship.status).toBe(409);
    const weight = (await send(a!.adminUrl, '/status')).json<{ routes: Array<{ name: string; weight: number }> }>().routes.find((r) => r.name === 'shop')!.weight;
    expect(weight).toBe(50);
  });

  it("freezes no guardrails it could not read: a stop is refused (503) and the experiment keeps running", async () => {
    // The route's guardrail minutes hold the wrong type (bad data in Redis): reading them fails, the stop's own
    // keys still work.
    const probe = await connectTestClient(redis.url);
    const minute = Math.floor(Date.now() / 60_000);
    const keys = Array.from({ length: 14 }, (_, i) => `sg:{exp-guardrails}:g:shop:${minute - 12 + i}`);
    // The real counts wait under other names meanwhile.
    const saved: string[] = [];
    for (const key of keys) if ((await probe.exists(key)) === 1) saved.push(key);
    for (const key of saved) await probe.rename(key, `${key}:saved`);
    try {
      for (const key of keys) await probe.set(key, 'not a hash');
      const report = await experimentReport(a!.adminUrl, 'checkout');
      expect(report.guardrails).toMatchObject({ breached: false, checks: [] });
      expect(report.guardrails.note).toMatch(/could not be read/);
      const stop = await send(a!.adminUrl, '/experiments/checkout/stop', { method: 'POST' });
      expect(stop.status).toBe(503);
      expect(stop.json<{ error: { code: string } }>().error.code).toBe('SG_FLEET_UNAVAILABLE');
      expect((await experimentReport(b!.adminUrl, 'checkout')).stopped).toBeNull();
    } finally {
      for (const key of keys) await probe.del(key);
      for (const key of saved) await probe.rename(`${key}:saved`, key);
      probe.destroy();
    }
    // Readable again: the stop freezes the breach.
    const stop = await send(a!.adminUrl, '/experiments/checkout/stop', { method: 'POST' });
    expect(stop.status).toBe(200);
    expect(stop.json<any>().guardrails.breached).toBe(true);
  });
});
