/**
 * The error budget of a route with `slo:` and no rollout, in a fleet of real processes on a real redis-server:
 * replica A (a supervisor with two workers, the leader) and replica B (one process) each take part of the route's
 * traffic. Both push the route's SLO counts to Redis (its window counts stay unpushed: no rollout analyses them), the
 * leader alone exports the burn-rate and budget gauges, from both replicas' counts exactly, and when A stops, B
 * leads and exports the same fleet-wide figures, though it saw only its own share.
 *
 * Before: only routes with a rollout pushed SLO counts, and in a fleet nothing set the gauges of a route without one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { fastFleet, leads, replicaConfig, startLeaderAndFollower } from '../helpers/fleet-pair.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { connectTestClient, startRedis, type TestRedis, type TestRedisClient } from '../helpers/redis.js';
import { failByPath, sendOkAndFailing, startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const FLEET = 'slo-no-rollout';

let redis: TestRedis;
let probe: TestRedisClient | undefined;
let stable: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;


function config(member: 'a' | 'b'): Record<string, unknown> {
  return replicaConfig(member, fastFleet(FLEET, member, redis.url), {
    workers: member === 'a' ? 2 : 1,
    upstreams: { stable: stable.url },
    // No canary, no rollout: nothing but the SLO feed and the fleet's SLO counts see this route.
    routes: [{ name: 'shop', match: { pathPrefix: '/' }, stable: 'stable', retry: false, outlier: false, slo: { objective: 99, window: '1h' } }],
  });
}

async function gauges(adminUrl: string): Promise<{ burn6m?: number; burn2m?: number; left?: number }> {
  const samples = parsePrometheus((await send(adminUrl, '/metrics')).text);
  return {
    burn6m: sampleValue(samples, 'splitgate_slo_burn_rate', { route: 'shop', window: '6m' }),
    burn2m: sampleValue(samples, 'splitgate_slo_burn_rate', { route: 'shop', window: '2m' }),
    left: sampleValue(samples, 'splitgate_slo_error_budget_remaining', { route: 'shop' }),
  };
}

/** Waits until `adminUrl`'s 6m burn rate is `expected`; the last value seen in the failure. */
async function burnReaches(what: string, adminUrl: string, expected: number): Promise<void> {
  let last: number | undefined;
  await waitFor(
    what,
    async () => {
      last = (await gauges(adminUrl)).burn6m;
      return last === expected;
    },
    12_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last burn rate ${last}`);
  });
}

beforeAll(async () => {
  redis = await startRedis();
  probe = await connectTestClient(redis.url);
  stable = await startUpstream('stable', failByPath);
  dir = createTempDir();
  [a, b] = await startLeaderAndFollower(dir, config);
}, 60_000);

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  if (probe?.isOpen) probe.destroy();
  await redis?.stop();
  await stable?.close();
  dir?.remove();
});

describe('error budget of a route without a rollout, in a fleet', () => {
  it("every replica pushes its SLO counts; the leader's gauges are the fleet's, and B's after A leaves", async () => {
    // A alone: 10 of 40 failing (25 %); B alone: 2 of 60 (3.3 %). Together: 12 of 100, a burn of 12 on a 99 % SLO.
    await sendOkAndFailing(a!.url, 30, 10);
    await sendOkAndFailing(b!.url, 58, 2);
    // The 1h window scales the Workbook's 3d/6h and 1d/2h pairs to 6m/30s and 2m/10s: 6m and 2m hold all of it.
    await burnReaches('the leader to export both replicas\' counts', a!.adminUrl, 12);
    const leader = await gauges(a!.adminUrl);
    expect(leader.burn2m).toBe(12);
    expect(leader.left).toBe(-11);

    // Both members' minutes are in the route's hour hash; no per-second window hash (no rollout reads one).
    const sloKeys = await probe!.keys(`sg:{${FLEET}}:slo:shop:*`);
    expect(sloKeys.length).toBeGreaterThanOrEqual(1);
    let requests = 0;
    let errors = 0;
    for (const key of sloKeys) {
      for (const [field, value] of Object.entries(await probe!.hGetAll(key))) {
        if (field.endsWith(':r')) requests += Number(value);
        else if (field.endsWith(':e')) errors += Number(value);
      }
    }
    expect({ requests, errors }).toEqual({ requests: 100, errors: 12 });
    expect(await probe!.keys(`sg:{${FLEET}}:w:shop:*`)).toEqual([]);

    // One series per route and window: the follower exports none.
    expect(await gauges(b!.adminUrl)).toEqual({ burn6m: undefined, burn2m: undefined, left: undefined });

    // A leaves (handing the lease over); B, which saw 2 of 60 (a burn of 3.3), leads and exports the fleet's 12.
    expect((await a!.stop()).code).toBe(0);
    await waitFor('B to lead', () => leads(b!.adminUrl), 5_000);
    await burnReaches('the new leader to export the fleet\'s counts', b!.adminUrl, 12);
    expect((await gauges(b!.adminUrl)).left).toBe(-11);

    // Redis gone: the proxy never waits on it.
    await redis.stop();
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      expect((await send(b!.url, `/ok/after-${i}`, { timeoutMs: 3_000 })).status).toBe(200);
      expect((await send(b!.url, `/fail/after-${i}`, { timeoutMs: 3_000 })).status).toBe(500);
    }
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 45_000);
});
