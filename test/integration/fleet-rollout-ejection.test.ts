/**
 * A fleet's rollout fails a window on an outlier ejection whichever member made it. Two replicas as real processes
 * on a real redis-server: A leads, B follows (B with `workers: 2`, so its ejections come from its workers); the
 * canary refuses connections and only B takes traffic. A refused canary never receives a request, so no window
 * counts a canary failure (minRequests is out of reach anyway): only B's ejections, which reach the leader through
 * the fleet's window counts, can roll the rollout back. Before they did, the leader held at 50 % forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../helpers/http.js';
import { fastFleet, replicaConfig, startLeaderAndFollower } from '../helpers/fleet-pair.js';
import { startLoad } from '../helpers/load.js';
import { createTempDir, killIfRunning, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { eventsOf, waitForRollout } from '../helpers/rollout.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let redis: TestRedis;
let stable: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;

beforeAll(async () => {
  redis = await startRedis();
  stable = await startUpstream('stable');
  dir = createTempDir();
  const refused = `http://127.0.0.1:${await closedPort()}`;
  [a, b] = await startLeaderAndFollower(dir, (member) =>
    replicaConfig(member, fastFleet('ejection', member, redis.url), {
      workers: member === 'a' ? 1 : 2,
      // info: the test reads the bound addresses from the `splitgate listening` line.
      log: { level: 'info', accessLog: { enabled: false } },
      upstreams: { stable: stable.url, canary: refused },
      routes: [
        {
          name: 'api',
          stable: 'stable',
          canary: 'canary',
          weight: 0,
          outlier: { consecutiveConnectFailures: 3, baseEjectionTime: '300s' },
          rollout: { interval: '1s', stepWeights: [50, 100], threshold: 1, minRequests: 100_000, checks: [{ metric: 'success-rate', min: 99 }] },
        },
      ],
    }),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await stable?.close();
  dir?.remove();
});

describe('a fleet rollout and ejections on another member', () => {
  it("the leader rolls back on the follower's ejections; the follower's clients see no error", async () => {
    await waitForRollout(a!.adminUrl, 'api', 'weight 50', (s) => s.weight === 50, 10_000);
    // A new connection per request: both of B's workers take a share, and each ejects on its own failures.
    const load = startLoad(b!.url, { path: '/x', concurrency: 2, durationMs: 15_000, pauseMs: 10, keepAlive: false });
    let traffic;
    try {
      const done = await waitForRollout(a!.adminUrl, 'api', 'the rollback', (s) => s.phase === 'RolledBack' || s.phase === 'Succeeded', 15_000);
      expect(done.phase).toBe('RolledBack');
    } finally {
      traffic = await load.stop();
    }
    const rollback = (await eventsOf(a!.adminUrl, 'api')).find((e) => e.action === 'rollout.rolled_back')!;
    const ejection = rollback.before.checks.find((c: { check: string }) => c.check === 'outlier-ejection');
    expect(ejection).toMatchObject({ result: 'fail' });
    expect(ejection.value).toBeGreaterThanOrEqual(1);
    // The leader itself saw no request: the ejections it judged are B's.
    expect((await eventsOf(a!.adminUrl, 'api')).filter((e) => e.actor === 'outlier')).toEqual([]);
    expect((await eventsOf(b!.adminUrl, 'api')).filter((e) => e.actor === 'outlier' && e.action === 'upstream.ejected').length).toBeGreaterThanOrEqual(1);
    expect(traffic.failed).toBe(0);
    expect(Object.keys(traffic.byStatus)).toEqual(['200']);
  });
});
