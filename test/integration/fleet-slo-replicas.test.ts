/**
 * The error budget of a route in a fleet of real processes on a real redis-server: replica A (a supervisor with two
 * workers, the rollout leader) and replica B (one process) each take part of the route's traffic. The leader's burn
 * rates and budget left come from both replicas' counts, exactly; then Redis goes away and neither proxy crashes or
 * stalls: requests keep being answered on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { fastFleet, replicaConfig, startLeaderAndFollower } from '../helpers/fleet-pair.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { failByPath, sendOkAndFailing, startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let redis: TestRedis;
let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;


function config(member: 'a' | 'b'): Record<string, unknown> {
  return replicaConfig(member, fastFleet('slo', member, redis.url), {
    workers: member === 'a' ? 2 : 1,
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'shop',
        match: { pathPrefix: '/' },
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        retry: false,
        outlier: false,
        slo: { objective: 99, window: '1h' },
        // A long bake keeps the rollout analysing (and the budget read) for the whole test.
        rollout: { interval: '1s', stages: [{ name: 'ring', weight: 10, bake: '1d' }], pacing: { fastBurn: 'hold', slowBurn: 'hold', budgetFloor: 0 } },
      },
    ],
  });
}

async function metricsOf(adminUrl: string) {
  return parsePrometheus((await send(adminUrl, '/metrics')).text);
}

beforeAll(async () => {
  redis = await startRedis();
  stable = await startUpstream('stable', failByPath);
  canary = await startUpstream('canary', failByPath);
  dir = createTempDir();
  [a, b] = await startLeaderAndFollower(dir, config);
}, 60_000);

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

describe('error budget in a fleet', () => {
  it("the leader's burn rates and budget left count both replicas' traffic exactly; losing Redis stalls no proxy", async () => {
    // A alone: 10 of 40 failing (25 %); B alone: 2 of 60 (3.3 %). Together: 12 of 100, a burn of 12 on a 99 % SLO.
    await sendOkAndFailing(a!.url, 30, 10);
    await sendOkAndFailing(b!.url, 58, 2);
    // The 1h window scales the Workbook's 3d/6h pair to 6m/30s: the 6m window holds all of it.
    let burn: number | undefined;
    await waitFor(
      'the leader to count both replicas',
      async () => {
        burn = sampleValue(await metricsOf(a!.adminUrl), 'splitgate_slo_burn_rate', { route: 'shop', window: '6m' });
        return burn === 12;
      },
      20_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last burn rate ${burn}`);
    });
    const samples = await metricsOf(a!.adminUrl);
    expect(sampleValue(samples, 'splitgate_slo_error_budget_remaining', { route: 'shop' })).toBe(-11);
    expect(sampleValue(samples, 'splitgate_slo_burn_rate', { route: 'shop', window: '2m' })).toBe(12);
    // Which pairs fire depends on where the minute boundary fell (short windows are seconds here, the counts
    // minutes); the rollout is paced, held as configured at worst, and still analysing.
    const rollout = (await send(a!.adminUrl, '/rollouts')).json().rollouts.shop;
    expect(rollout.phase).toBe('Progressing');
    expect(['go', 'hold']).toContain(rollout.lastWindow.pacing.action);

    await redis.stop();
    const started = Date.now();
    for (const replica of [a!, b!]) {
      for (let i = 0; i < 5; i++) {
        expect((await send(replica.url, `/ok/after-${i}`, { timeoutMs: 3_000 })).status).toBe(200);
        expect((await send(replica.url, `/fail/after-${i}`, { timeoutMs: 3_000 })).status).toBe(500);
      }
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    // A few flushes and analysis windows later, both are still up and answering.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    for (const replica of [a!, b!]) {
      expect(replica.child.exitCode).toBeNull();
      expect((await send(replica.url, '/ok/later', { timeoutMs: 3_000 })).status).toBe(200);
      expect((await send(replica.adminUrl, '/metrics', { timeoutMs: 3_000 })).status).toBe(200);
    }
    expect(a!.logLines.some((line) => line.msg === 'fleet store unreachable; routing stays on the last applied state')).toBe(true);
  }, 60_000);
});
