/**
 * The rollout leader, as real processes on a real redis-server: replica A (a supervisor with two workers, which
 * leads with the counts its workers ship) and replica B (one process) share a route's automated rollout. A leads and
 * steps the rollout on both replicas' traffic; then A is SIGKILLed mid-rollout. B takes the lease over within
 * `fleet.lease` (2 s here), continues from the stored step with a higher epoch, and promotes; B's clients see no
 * failed request throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { createTempDir, killIfRunning, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { fastFleet, replicaConfig, startLeaderAndFollower } from '../helpers/fleet-pair.js';
import { connectTestClient, startRedis, type TestRedis } from '../helpers/redis.js';
import { eventsOf, waitForRollout } from '../helpers/rollout.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let redis: TestRedis;
let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;

function config(member: 'a' | 'b'): Record<string, unknown> {
  return replicaConfig(member, fastFleet('sigkill', member, redis.url), {
    workers: member === 'a' ? 2 : 1,
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        // Killed at step 2 (weight 30), then B steps to 40 and promotes: starting over would show weight 10 again.
        name: 'shop',
        match: { pathPrefix: '/' },
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        rollout: { interval: '1s', stepWeights: [10, 20, 30, 40], minRequests: 5, analysis: { traffic: 'all' }, checks: [{ metric: 'success-rate', min: 95 }] },
      },
    ],
  });
}

async function fleetOf(adminUrl: string): Promise<{ leader: boolean; members: number }> {
  return (await send(adminUrl, '/status')).json<{ fleet: { leader: boolean; members: number } }>().fleet;
}

beforeAll(async () => {
  redis = await startRedis();
  [stable, canary] = await startUpstreams('stable', 'canary');
  dir = createTempDir();
  // A first, so it takes the lease; B joins as a follower.
  [a, b] = await startLeaderAndFollower(dir, config);
}, 60_000);

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

describe('a SIGKILLed rollout leader', () => {
  it('is replaced within the lease; the follower continues from the stored step with a higher epoch and promotes', async () => {
    expect(await fleetOf(a!.adminUrl)).toMatchObject({ leader: true });
    expect(await fleetOf(b!.adminUrl)).toMatchObject({ leader: false, members: 2 });

    let stop = false;
    let aAlive = true;
    const failuresAtB: string[] = [];
    const load = (async () => {
      while (!stop) {
        const atB = send(b!.url, '/').then(
          (response) => (response.status === 200 ? undefined : failuresAtB.push(`status ${response.status}`)),
          (error: unknown) => failuresAtB.push(String(error)),
        );
        await Promise.all([aAlive ? send(a!.url, '/').catch(() => undefined) : null, atB]);
      }
    })();
    try {
      // Stepped by A, seen through B: the status is the fleet's.
      const mid = await waitForRollout(b!.adminUrl, 'shop', 'step 2 of 4', (status) => status.step >= 2, 30_000);
      expect(mid.phase).toBe('Progressing');
      const byA = (await eventsOf(a!.adminUrl, 'shop')).filter((event) => event.actor === 'rollout');
      expect(byA.length).toBeGreaterThan(0);

      const epochKey = 'sg:{sigkill}:epoch';
      const client = await connectTestClient(redis.url);
      const epochOfA = Number(await client.get(epochKey));
      expect(epochOfA).toBeGreaterThan(0);

      a!.child.kill('SIGKILL');
      aAlive = false;
      const killedAt = Date.now();
      const leaderDeadline = killedAt + 10_000;
      while (!(await fleetOf(b!.adminUrl)).leader && Date.now() < leaderDeadline) await new Promise((resolve) => setTimeout(resolve, 100));
      const takeoverMs = Date.now() - killedAt;
      console.log(`SIGKILL of the leader -> B leads after ${takeoverMs} ms (fleet.lease 2 s)`);
      // The lease (2 s) plus one follower retry (a third of it) and the polling here.
      expect(takeoverMs).toBeLessThan(4_000);
      expect(Number(await client.get(epochKey))).toBeGreaterThan(epochOfA);
      await client.quit();

      const done = await waitForRollout(b!.adminUrl, 'shop', 'Succeeded', (status) => status.phase === 'Succeeded', 45_000);
      expect(done.weight).toBe(100);
      // B went on from where A left it: it never started the rollout over from the first step.
      const byB = (await eventsOf(b!.adminUrl, 'shop')).filter((event) => event.actor === 'rollout' && Date.parse(event.time) >= killedAt);
      const weightsAfterKill = byB.map((event) => (event.after as { weight?: number } | undefined)?.weight).filter((weight): weight is number => typeof weight === 'number');
      expect(weightsAfterKill.length).toBeGreaterThan(0);
      expect(Math.min(...weightsAfterKill)).toBeGreaterThanOrEqual(mid.weight);
    } finally {
      stop = true;
      await load;
    }
    expect(failuresAtB).toEqual([]);
  }, 90_000);
});
