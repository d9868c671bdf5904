/**
 * A/B experiments with `workers: 2`: a user's requests land on either worker (a fresh connection each), yet each
 * user is exposed once and each conversion counted once, because the workers ship first-seen events to the
 * supervisor, which deduplicates (experiments/worker-events.ts). The supervisor's /experiments and /metrics equal the
 * truth the test keeps from the responses. Real processes (dist/bin.js).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { requestsPerWorker, supervisorStatus } from '../helpers/workers.js';

function shopHandler(version: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      const headers: Record<string, string> = { 'x-upstream-version': version };
      if (req.url === '/thanks') headers['x-splitgate-conversion'] = 'purchase;value=2';
      res.writeHead(req.method === 'POST' ? 201 : 200, headers);
      res.end(version);
    });
  };
}

let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let sg: SplitgateProcess | undefined;

beforeAll(async () => {
  stable = await startUpstream('stable', shopHandler('stable'));
  canary = await startUpstream('canary', shopHandler('canary'));
  dir = createTempDir();
  sg = await spawnSplitgate(
    dir.writeConfig('experiments.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      workers: 2,
      watch: false,
      state: { file: false },
      upstreams: { stable: stable.url, canary: canary.url },
      routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
      experiments: [
        {
          key: 'checkout',
          route: 'shop',
          exposure: { match: { pathPrefix: '/shop' } },
          conversions: [
            { name: 'order', match: { method: 'POST', path: '/orders', status: '2xx' } },
            { name: 'purchase', header: true },
          ],
          minUsersPerArm: 10,
        },
      ],
    }),
  );
});

afterAll(async () => {
  await killIfRunning(sg);
  await stable?.close();
  await canary?.close();
  dir?.remove();
});

describe('workers: 2, A/B experiments', () => {
  it('counts each user and conversion once across workers; the supervisor reports the truth', async () => {
    const users: [number, number] = [0, 0];
    const orders: [number, number] = [0, 0];
    const purchases: [number, number] = [0, 0];
    let leaked = 0;
    await inParallel(120, 8, async (i) => {
      const headers = { 'x-user-id': `user-${i}` };
      const first = await send(sg!.url, '/shop', { headers });
      const arm = first.headers['x-upstream-version'] === 'canary' ? 1 : 0;
      users[arm]++;
      await send(sg!.url, '/shop/again', { headers });
      if (i % 2 === 0) {
        for (let k = 0; k < 3; k++) await send(sg!.url, '/orders', { method: 'POST', headers });
        orders[arm]++;
      }
      if (i % 3 === 0) {
        for (let k = 0; k < 3; k++) if ((await send(sg!.url, '/thanks', { headers })).headers['x-splitgate-conversion'] !== undefined) leaked++;
        purchases[arm]++;
      }
    });
    expect(leaked).toBe(0);
    // Both workers served users' requests, so dedup had to work across processes.
    const perWorker = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []);
    expect([...perWorker.values()].filter((n) => n > 0).length).toBe(2);

    const report = (await send(sg!.adminUrl, '/experiments/checkout')).json();
    expect(report.arms.map((a: any) => a.users)).toEqual(users);
    const counts = (name: string) => report.conversions.find((c: any) => c.name === name).arms.map((a: any) => a.converters);
    expect(counts('order')).toEqual(orders);
    expect(counts('purchase')).toEqual(purchases);
    expect(report.conversions[1].arms.map((a: any) => a.valueSum)).toEqual(purchases.map((n) => 2 * n));
    expect(report.tracking.keyedUsers).toBe(120);

    const metrics = (await send(sg!.adminUrl, '/metrics')).text;
    expect(metrics).toContain(`splitgate_experiment_users_total{experiment="checkout",arm="A"} ${users[0]}`);
    expect(metrics).toContain(`splitgate_experiment_conversions_total{experiment="checkout",arm="B",conversion="order"} ${orders[1]}`);
  });
});
