/**
 * A/B experiments with `workers: 2`: a user's requests land on either worker (a fresh connection each), yet each
 * user is exposed once and each conversion counted once, because the workers ship first-seen events to the
 * supervisor, which deduplicates (experiments/worker-events.ts). The supervisor's /experiments and /metrics equal the
 * truth the test keeps from the responses. Real processes (dist/bin.js).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { requestsPerWorker, supervisorStatus } from '../helpers/workers.js';

let shop: Shop;
let dir: TempDir;
let sg: SplitgateProcess | undefined;

beforeAll(async () => {
  shop = await startShop();
  dir = createTempDir();
  sg = await spawnSplitgate(configFile());
});

function configFile(): string {
  return dir.writeConfig('experiments.yaml', {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    workers: 2,
    watch: false,
    state: { file: `${dir.path}/state.json` },
    upstreams: shop.upstreams,
    flags: { definitions: { flags: { 'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } } } } },
    routes: [shopRoute()],
    experiments: [checkoutExperiment({ minUsersPerArm: 10 }), checkoutExperiment({ key: 'by-flag', flag: 'new-checkout', minUsersPerArm: 10 })],
  });
}

afterAll(async () => {
  await killIfRunning(sg);
  await shop?.close();
  dir?.remove();
});

describe('workers: 2, A/B experiments', () => {
  it('keeps the optimizing compilers in the supervisor, which merges every user (src/process-footprint.ts)', async () => {
    const status = await supervisorStatus(sg!.adminUrl);
    expect(status.process.optimizingCompilers).toBe(true);
  });

  it('counts each user and conversion once across workers; the supervisor reports the truth', async () => {
    const users: [number, number] = [0, 0];
    const orders: [number, number] = [0, 0];
    const purchases: [number, number] = [0, 0];
    const flagOrders: [number, number] = [0, 0];
    const flagUsers: [number, number] = [0, 0];
    let leaked = 0;
    await inParallel(120, 8, async (i) => {
      const headers = { 'x-user-id': `user-${i}` };
      const first = await send(sg!.url, '/shop', { headers });
      const arm = armOf(first);
      users[arm]++;
      const variant = first.headers['x-seen-flags'] === 'new-checkout=?1' ? 1 : 0;
      flagUsers[variant]++;
      await send(sg!.url, '/shop/again', { headers });
      if (i % 2 === 0) {
        for (let k = 0; k < 3; k++) await send(sg!.url, '/orders', { method: 'POST', headers });
        orders[arm]++;
        flagOrders[variant]++;
      }
      if (i % 3 === 0) {
        for (let k = 0; k < 3; k++) if ((await send(sg!.url, '/thanks?value=2', { headers })).headers['x-splitgate-conversion'] !== undefined) leaked++;
        purchases[arm]++;
      }
    });
    expect(leaked).toBe(0);
    // Both workers served users' requests, so dedup had to work across processes.
    const perWorker = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []);
    expect([...perWorker.values()].filter((n) => n > 0).length).toBe(2);

    const report = await experimentReport(sg!.adminUrl, 'checkout');
    expect(report.arms.map((a: any) => a.users)).toEqual(users);
    const counts = (name: string) => report.conversions.find((c: any) => c.name === name).arms.map((a: any) => a.converters);
    expect(counts('order')).toEqual(orders);
    expect(counts('purchase')).toEqual(purchases);
    expect(report.conversions[1].arms.map((a: any) => a.valueSum)).toEqual(purchases.map((n) => 2 * n));
    expect(report.tracking.keyedUsers).toBe(120);
    // Flag arms are worked out in the workers, from the same evaluation as the flags header.
    const byFlag = await experimentReport(sg!.adminUrl, 'by-flag');
    expect(byFlag.arms.map((a: any) => a.users)).toEqual(flagUsers);
    expect(byFlag.conversions.find((c: any) => c.name === 'order').arms.map((a: any) => a.converters)).toEqual(flagOrders);

    const metrics = (await send(sg!.adminUrl, '/metrics')).text;
    expect(metrics).toContain(`splitgate_experiment_users_total{experiment="checkout",arm="A"} ${users[0]}`);
    expect(metrics).toContain(`splitgate_experiment_conversions_total{experiment="checkout",arm="B",conversion="order"} ${orders[1]}`);
  });

  it('a stop freezes the supervisor totals while the workers keep serving, and survives a restart', async () => {
    const before = await experimentReport(sg!.adminUrl, 'checkout');
    const stopped = await send(sg!.adminUrl, '/experiments/checkout/stop', { method: 'POST' });
    expect(stopped.status).toBe(200);
    expect(stopped.json().arms).toEqual(before.arms);
    // The workers still count and ship events; the supervisor drops them for a stopped experiment.
    await inParallel(40, 8, async (i) => {
      const headers = { 'x-user-id': `late-${i}` };
      await send(sg!.url, '/shop', { headers });
      await send(sg!.url, '/orders', { method: 'POST', headers });
    });
    const frozen = await experimentReport(sg!.adminUrl, 'checkout');
    expect(frozen.arms).toEqual(before.arms);
    expect(frozen.conversions.map((c: any) => c.arms)).toEqual(before.conversions.map((c: any) => c.arms));
    expect(frozen.stopped).not.toBeNull();

    await killIfRunning(sg);
    sg = await spawnSplitgate(configFile());
    await send(sg.url, '/shop', { headers: { 'x-user-id': 'after-restart' } });
    const restored = await experimentReport(sg.adminUrl, 'checkout');
    expect(restored.stopped).toEqual(frozen.stopped);
    expect(restored.arms).toEqual(before.arms);
    expect(restored.conversions.map((c: any) => c.arms)).toEqual(before.conversions.map((c: any) => c.arms));
  });
});
